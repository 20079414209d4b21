"""Events committed with their change or not at all; a relay that delivers each at least
once, in order per aggregate; handlers whose effect happens once. On real servers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from unittest.mock import patch

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import func, select, text, update

from fastapi_building_blocks import SQLAlchemySession, UnitOfWork, uuid7
from fastapi_building_blocks.observability import RelayMetrics
from fastapi_building_blocks.outbox import Message, Relay, State, idempotent
from fastapi_building_blocks.outbox import relay as relay_module
from tests.backends import POSTGRESQL_URL
from tests.outbox.conftest import Pair
from tests.outbox.schema import (
    accounts,
    changed,
    create_account,
    inbox,
    outbox,
    project,
    projection,
    rename_account,
)


async def outbox_states(pair: Pair) -> dict[str, int]:
    statement = select(outbox.c.state, func.count()).group_by(outbox.c.state)
    async with pair.source.connection() as connection:
        return {state: count for state, count in await connection.execute(statement)}


async def projected(pair: Pair) -> dict[uuid.UUID, tuple[str, int]]:
    statement = select(projection.c.id, projection.c.name, projection.c.version)
    async with pair.target.connection() as connection:
        return {key: (name, version) for key, name, version in await connection.execute(statement)}


async def sources(pair: Pair) -> dict[uuid.UUID, tuple[str, int]]:
    statement = select(accounts.c.id, accounts.c.name, accounts.c.version)
    async with pair.source.connection() as connection:
        return {key: (name, version) for key, name, version in await connection.execute(statement)}


def projecting_relay(pair: Pair, **options: object) -> Relay:
    handler = idempotent(pair.target, "project", project, inbox=inbox)
    return Relay(pair.source, {"*": handler}, outbox=outbox, **options)  # type: ignore[arg-type]


async def drain(relay: Relay) -> None:
    while await relay.run_once():
        pass


# -- publishing ---------------------------------------------------------------------------


async def test_an_event_is_committed_with_its_change_or_not_at_all(pair: Pair) -> None:
    async with UnitOfWork(pair.source) as uow:
        await create_account(uow, "rolled back")
        await uow.rollback()
        await create_account(uow, "kept")
        await uow.commit()

    assert await outbox_states(pair) == {"pending": 1}
    assert [name for name, _ in (await sources(pair)).values()] == ["kept"]


# -- delivering ---------------------------------------------------------------------------


async def test_the_relay_delivers_each_change_into_the_other_database(pair: Pair) -> None:
    async with UnitOfWork(pair.source) as uow:
        keys = [await create_account(uow, f"account {n}") for n in range(5)]
        await rename_account(uow, keys[0], "renamed")
        await uow.commit()

    await drain(projecting_relay(pair))

    assert await projected(pair) == await sources(pair)
    assert await outbox_states(pair) == {"delivered": 6}


async def test_a_message_delivered_again_has_no_second_effect(pair: Pair) -> None:
    async with UnitOfWork(pair.source) as uow:
        await create_account(uow, "once")
        await uow.commit()
    relay = projecting_relay(pair)
    await drain(relay)
    # As if the relay died after the handler committed, before marking it delivered:
    async with pair.source.transaction() as connection:
        await connection.execute(update(outbox).values(state=State.PENDING.value))

    await drain(relay)  # the handler's inbox has the id: no second insert, no error

    assert len(await projected(pair)) == 1
    assert await outbox_states(pair) == {"delivered": 1}


async def test_a_message_delivered_twice_at_once_is_applied_by_one_delivery(
    pair: Pair,
) -> None:
    """Two handler transactions get the same message: the second comes while the first
    has applied it but not committed. Whatever the second does (wait for the first and
    skip the message, or fail on the inbox's key), the effect happens once."""
    async with UnitOfWork(pair.source) as uow:
        key = await create_account(uow, "contended")
        await uow.commit()
    payload = {"id": str(key), "name": "contended", "version": 1}
    message = Message(
        uuid7(), "account", str(key), "account.created", payload, datetime.now(UTC), 0
    )
    applied, release = asyncio.Event(), asyncio.Event()
    applications = 0

    async def apply_and_hold(uow: UnitOfWork, messages: Sequence[Message]) -> None:
        nonlocal applications
        applications += 1
        await project(uow, messages)
        applied.set()
        await release.wait()

    handler = idempotent(pair.target, "project", apply_and_hold, inbox=inbox)
    first = asyncio.ensure_future(handler([message]))
    await asyncio.wait_for(applied.wait(), 30)
    second = asyncio.ensure_future(handler([message]))
    await asyncio.sleep(0.3)  # the second reaches the inbox while the first holds it
    release.set()
    outcomes = await asyncio.wait_for(asyncio.gather(first, second, return_exceptions=True), 30)

    assert outcomes[0] is None
    assert applications == 1
    assert await projected(pair) == await sources(pair)
    async with pair.target.connection() as connection:
        received = (await connection.execute(select(func.count()).select_from(inbox))).scalar()
    assert received == 1


@pytest.mark.parametrize("pair", ["postgresql", "mariadb"], indirect=True)
async def test_three_relays_apply_each_message_once_and_in_order_per_aggregate(
    pair: Pair,
) -> None:
    async with UnitOfWork(pair.source) as uow:
        keys = [await create_account(uow, f"account {n}") for n in range(40)]
        await uow.commit()
    for round_ in range(5):
        async with UnitOfWork(pair.source) as uow:
            for key in keys:
                await rename_account(uow, key, f"round {round_}")
            await uow.commit()

    relays = [projecting_relay(pair, batch_size=10) for _ in range(3)]

    async def until_nothing_is_pending(relay: Relay) -> None:
        while (await outbox_states(pair)).get("pending"):
            if not await relay.run_once():
                await asyncio.sleep(0.005)  # the rest is claimed by the others

    await asyncio.gather(*(until_nothing_is_pending(relay) for relay in relays))

    assert await outbox_states(pair) == {"delivered": 240}  # none dead: no version went back
    assert await projected(pair) == await sources(pair)
    assert sum(relay.delivered for relay in relays) == 240
    assert sum(relay.delivered > 0 for relay in relays) >= 2  # they really shared the work


# -- failing handlers ---------------------------------------------------------------------


async def test_events_published_within_one_millisecond_arrive_in_the_order_published(
    pair: Pair,
) -> None:
    key = uuid.uuid4()
    async with UnitOfWork(pair.source) as uow:
        for version in range(1, 201):  # several per millisecond
            await uow.publish(changed(key, "x", version, "account.renamed"), outbox=outbox)
        await uow.commit()
    arrived: list[int] = []

    async def record(messages: Sequence[Message]) -> None:
        arrived.extend(message.payload["version"] for message in messages)

    await drain(Relay(pair.source, {"*": record}, outbox=outbox, batch_size=30))

    assert arrived == list(range(1, 201))


async def test_a_failing_handler_is_retried_until_it_succeeds(pair: Pair) -> None:
    attempts: list[uuid.UUID] = []

    async def flaky(messages: Sequence[Message]) -> None:
        attempts.extend(message.id for message in messages)
        if len(attempts) < 3:
            raise ConnectionError("the other service is restarting")

    async with UnitOfWork(pair.source) as uow:
        await create_account(uow, "eventually")
        await uow.commit()
    relay = Relay(pair.source, {"*": flaky}, outbox=outbox, first_retry_seconds=0.01)
    for _ in range(50):
        await relay.run_once()
        if await outbox_states(pair) == {"delivered": 1}:
            break
        await asyncio.sleep(0.03)

    assert await outbox_states(pair) == {"delivered": 1}
    assert len(attempts) == 3


async def test_a_message_that_always_fails_goes_dead_with_its_error_and_can_be_retried(
    pair: Pair,
) -> None:
    async def broken(messages: Sequence[Message]) -> None:
        raise ValueError("no such account type")

    async with UnitOfWork(pair.source) as uow:
        await create_account(uow, "doomed")
        await uow.commit()
    relay = Relay(pair.source, {"account.created": broken}, outbox=outbox, max_attempts=3,
                  first_retry_seconds=0.001, max_retry_seconds=0.001)  # fmt: skip
    for _ in range(20):
        await relay.run_once()
        await asyncio.sleep(0.01)

    dead = await relay.dead_messages()
    # Its dead letter, account.created.dead, was delivered too (no handler wants it here).
    assert await outbox_states(pair) == {"dead": 1, "delivered": 1}
    assert [d.last_error for d in dead] == ["ValueError: no such account type"]
    assert dead[0].message.attempts == 3
    assert (await relay.backlog()).dead == 1
    assert await relay.retry_dead() == 1
    assert await outbox_states(pair) == {"pending": 1, "delivered": 1}


async def test_one_bad_message_does_not_hold_back_the_rest_of_its_batch(pair: Pair) -> None:
    async def picky(messages: Sequence[Message]) -> None:
        if any(message.payload["name"] == "bad" for message in messages):
            raise ValueError("bad name")

    async with UnitOfWork(pair.source) as uow:
        for name in ("good", "bad", "fine"):
            await create_account(uow, name)
        await uow.commit()

    await Relay(pair.source, {"*": picky}, outbox=outbox).run_once()

    assert await outbox_states(pair) == {"delivered": 2, "pending": 1}


# -- running ------------------------------------------------------------------------------


@pytest.mark.parametrize("pair", ["postgresql"], indirect=True)
async def test_a_notification_wakes_the_relay_long_before_its_poll(pair: Pair) -> None:
    relay = projecting_relay(pair, poll_seconds=30)
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    await asyncio.sleep(0.3)  # listening, idle
    async with UnitOfWork(pair.source) as uow:
        await create_account(uow, "announced")
        await uow.commit()
    for _ in range(300):  # up to 15 s: half the poll, room for a slow machine
        if await projected(pair):
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(running, 5)

    assert len(await projected(pair)) == 1  # before the poll would have found it


async def test_stopping_finishes_the_batch_and_cancelling_releases_it(pair: Pair) -> None:
    started = asyncio.Event()

    async def slow(messages: Sequence[Message]) -> None:
        started.set()
        await asyncio.sleep(10)

    async with UnitOfWork(pair.source) as uow:
        await create_account(uow, "held")
        await uow.commit()
    running = asyncio.create_task(Relay(pair.source, {"*": slow}, outbox=outbox).run())
    await asyncio.wait_for(started.wait(), 5)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running

    assert await outbox_states(pair) == {"pending": 1}
    await drain(projecting_relay(pair))
    assert len(await projected(pair)) == 1


async def test_delivered_messages_are_removed_after_the_retention(pair: Pair) -> None:
    async with UnitOfWork(pair.source) as uow:
        await create_account(uow, "old news")
        await uow.commit()
    relay = projecting_relay(pair, retention=timedelta(0))
    await drain(relay)

    assert await relay.purge_delivered() == 1
    assert await outbox_states(pair) == {}


# -- what the relay reports ---------------------------------------------------------------


@pytest.mark.parametrize("pair", ["postgresql"], indirect=True)
async def test_backlog_delivered_failures_and_dead_are_metrics(pair: Pair) -> None:
    reader = InMemoryMetricReader()
    relay_metrics = RelayMetrics(MeterProvider(metric_readers=[reader]))
    async with UnitOfWork(pair.source) as uow:
        for name in ("good", "bad"):
            await create_account(uow, name)
        await uow.commit()

    async def picky(messages: Sequence[Message]) -> None:
        if any(message.payload["name"] == "bad" for message in messages):
            raise ValueError("bad name")

    relay = Relay(pair.source, {"account.created": picky}, outbox=outbox, max_attempts=1)
    relay_metrics.watch(relay)
    relay.last_backlog = await relay.backlog()  # as the running relay measures it
    waiting = points(reader)
    await relay.run_once()
    relay.last_backlog = await relay.backlog()
    after = points(reader)

    assert waiting["outbox.backlog.size"] == 2
    assert waiting["outbox.backlog.oldest_age"] > 0
    assert after["outbox.backlog.size"] == 1  # the dead one's dead letter, waiting
    assert (after["outbox.delivered"], after["outbox.failures"], after["outbox.dead"]) == (1, 1, 1)


def points(reader: InMemoryMetricReader) -> dict[str, float]:
    data = reader.get_metrics_data()
    assert data is not None
    return {
        metric.name: point.value  # type: ignore[union-attr]
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        for point in metric.data.data_points
    }


@pytest.mark.parametrize("pair", ["postgresql"], indirect=True)
async def test_a_delivery_continues_the_trace_that_published_it(pair: Pair) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("POST /accounts") as request_span:
        async with UnitOfWork(pair.source) as uow:
            await create_account(uow, "traced")
            await uow.commit()
    delivered = []

    async def handler(messages: Sequence[Message]) -> None:
        delivered.append(trace.get_current_span().get_span_context().trace_id)

    with patch.object(relay_module, "_tracer", provider.get_tracer("relay")):
        await Relay(pair.source, {"*": handler}, outbox=outbox).run_once()

    (process,) = [span for span in exporter.get_finished_spans() if span.name.startswith("process")]
    assert delivered == [request_span.get_span_context().trace_id]
    assert process.parent is not None
    assert process.parent.span_id == request_span.get_span_context().span_id


@pytest.mark.parametrize("pair", ["postgresql", "mariadb"], indirect=True)
async def test_connections_killed_inside_handler_transactions_apply_nothing_twice(
    pair: Pair,
) -> None:
    """Every other delivery has its handler's connection killed by the server just before
    the handler would commit; the relay retries, and each effect lands once."""
    own_id, kill = (
        ("SELECT pg_backend_pid()", "SELECT pg_terminate_backend({})")
        if pair.name == "postgresql"
        else ("SELECT CONNECTION_ID()", "KILL {}")
    )
    calls = 0

    async def project_or_die(uow: UnitOfWork, messages: Sequence[Message]) -> None:
        nonlocal calls
        calls += 1
        await project(uow, messages)
        if calls % 2:  # the effect is written, not committed: the connection goes now
            async with uow.connection() as connection:
                victim = (await connection.execute(text(own_id))).scalar()
            async with pair.target.connection() as killer:
                await killer.execute(text(kill.format(victim)))

    async with UnitOfWork(pair.source) as uow:
        keys = [await create_account(uow, f"account {n}") for n in range(10)]
        for key in keys:
            await rename_account(uow, key, "renamed")
        await uow.commit()
    handler = idempotent(pair.target, "project", project_or_die, inbox=inbox)
    relay = Relay(pair.source, {"*": handler}, outbox=outbox, first_retry_seconds=0.01,
                  max_retry_seconds=0.02, batch_size=5)  # fmt: skip
    for _ in range(200):
        await relay.run_once()
        if (await outbox_states(pair)).keys() == {"delivered"}:
            break
        await asyncio.sleep(0.02)

    assert await outbox_states(pair) == {"delivered": 20}
    assert relay.failures > 0  # the kills did fail deliveries
    assert await projected(pair) == await sources(pair)
    async with pair.target.connection() as connection:
        received = (await connection.execute(select(func.count()).select_from(inbox))).scalar()
    assert received == 20  # one inbox row per message: none applied twice


async def test_a_relay_started_while_its_database_is_down_keeps_running() -> None:
    """Nothing to claim, nothing to LISTEN on: it logs, polls, and stops when told."""
    down = SQLAlchemySession(POSTGRESQL_URL.replace(":5432/", ":5439/"), connect_timeout=0)
    stop = asyncio.Event()
    running = asyncio.create_task(Relay(down, {}, outbox=outbox, poll_seconds=0.05).run(stop))
    await asyncio.sleep(0.5)
    stop.set()
    await asyncio.wait_for(running, 5)  # no exception: it never gave up

    await down.disconnect()


async def test_publish_and_relay_work_with_every_statement_through_sqlalchemy(
    pair: Pair,
) -> None:
    """The other statement path: the source session without the driver path."""
    core = SQLAlchemySession(pair.source.url, use_driver_path=False)
    async with UnitOfWork(core) as uow:
        await create_account(uow, "core path")
        await uow.commit()
    await drain(Relay(core, {"*": idempotent(pair.target, "project", project, inbox=inbox)},
                      outbox=outbox))  # fmt: skip
    await core.disconnect()

    assert await projected(pair) == await sources(pair)
    assert await outbox_states(pair) == {"delivered": 1}

"""The outbox's benchmarks: what `uow.publish` adds to a write, how fast a relay carries
messages into another database through an idempotent handler, and how long a change
takes from its commit to the projection under a steady write load."""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import Column, Integer, String, Table, Uuid, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from fastapi_building_blocks import SQLAlchemySession, UnitOfWork, metadata
from fastapi_building_blocks.outbox import (
    Event,
    Message,
    Relay,
    idempotent,
    inbox_table,
    outbox_table,
)
from fastapi_building_blocks.outbox.rows import outbox_row

from .drivers import RawDriver
from .schema import ItemRepository, make_item

TARGET_DATABASE = "fbb_analytics"
source_schema = metadata()
outbox = outbox_table(source_schema, "bench_outbox")
target_schema = metadata()
projection = Table(
    "bench_projection", target_schema,
    Column("id", Uuid, primary_key=True), Column("name", String(100), nullable=False),
    Column("version", Integer, nullable=False),
)  # fmt: skip
inbox = inbox_table(target_schema, "bench_inbox")
#: The outbox's rows in the report; latency rows are milliseconds, the others per second.
PUBLISH = "outbox: create one row in a unit of work"
#: The same two writes straight through the driver: what the outbox row costs the server.
RAW_PUBLISH = "outbox: create one row, raw driver in one transaction"
THROUGHPUT = "outbox: relay into another database, inbox checked (messages/s)"
LATENCY = "outbox latency: commit to projection at a steady 200 writes/s (ms)"
WITHOUT_PUBLISH = "without publish"


async def project(uow: UnitOfWork, messages: Sequence[Message]) -> None:
    rows = [{"id": m.payload["id"], "name": m.payload["name"], "version": 1} for m in messages]
    async with uow.connection() as connection:
        await connection.execute(projection.insert(), rows)


async def measure_outbox(
    url: str, raw: tuple[AsyncEngine, RawDriver], rounds: int, count: int, rates: dict[str, Any]
) -> None:
    """`raw`: the reference engine (the raw driver's connections, as the other raw rows
    take them: not the package's, which MariaDB keeps in autocommit) and its driver."""
    target_url = make_url(url).set(database=TARGET_DATABASE).render_as_string(hide_password=False)
    source, target = SQLAlchemySession(url), SQLAlchemySession(target_url)
    for session, schema in ((source, source_schema), (target, target_schema)):
        async with session.transaction() as connection:
            await connection.run_sync(schema.drop_all)
            await connection.run_sync(schema.create_all)
    counter = itertools.count(5_000_000)
    for _ in range(rounds):
        spent = await _interleaved_writes(source, raw, count, counter)
        for (workload, publishing), seconds in spent.items():
            approach = "with publish" if publishing else WITHOUT_PUBLISH
            rates[workload][approach].append(count / seconds)
        await _clear(source, target)
        rates[THROUGHPUT]["relay, batches of 500"].append(await _throughput(source, target))
        await _clear(source, target)
    p50, p99 = await _latency(source, target)
    rates[LATENCY]["p50"].append(p50)
    rates[LATENCY]["p99"].append(p99)
    await source.disconnect()
    await target.disconnect()


async def _interleaved_writes(
    session: SQLAlchemySession,
    reference: tuple[AsyncEngine, RawDriver],
    count: int,
    counter: itertools.count[int],
) -> dict[tuple[str, bool], float]:
    """Seconds spent on `count` writes of each kind: through a unit of work and through
    the raw driver (on one held connection), each without and with its outbox row.
    Taken in turn, the first of each four alternating: the server's commit time drifts
    by 2x over seconds on this machine (fsync), and writes measured in blocks of their
    own carried that drift into the ratio (0.77-0.90 between runs of the same code)."""
    engine, raw = reference[0], reference[1].in_transaction()
    spent = dict.fromkeys(itertools.product((PUBLISH, RAW_PUBLISH), (False, True)), 0.0)
    insert_outbox_row = _raw_outbox_insert(raw)
    async with engine.connect() as held:
        connection = (await held.get_raw_connection()).driver_connection
        for n in range(count):
            kinds = list(spent)
            for workload, publishing in kinds[n % 4 :] + kinds[: n % 4]:
                item = make_item(next(counter))
                event = Event("item", str(item.id), "item.created", {"id": item.id})
                started = time.perf_counter()
                if workload == RAW_PUBLISH:
                    async with raw.transaction(connection):
                        await raw.insert(connection, item)
                        if publishing:
                            await insert_outbox_row(connection, event)
                else:
                    async with UnitOfWork(session) as uow:
                        await ItemRepository(uow).create(item)
                        if publishing:
                            await uow.publish(event, outbox=outbox)
                        await uow.commit()
                spent[workload, publishing] += time.perf_counter() - started
    return spent


def _raw_outbox_insert(raw: RawDriver) -> Callable[[Any, Event], Awaitable[int]]:
    """The outbox row as the raw driver writes it: the package's own row, in the
    driver's formats (keys and times as the driver stores them, the payload as JSON)."""
    names = [column.name for column in outbox.columns]
    marks = ", ".join(raw.marks(len(names)))
    sql = f"INSERT INTO {outbox.name} ({', '.join(names)}) VALUES ({marks})"
    converters: dict[str, Callable[[Any], Any]] = {
        "id": raw.key, "payload": json.dumps, "created_at": raw.time, "available_at": raw.time,
    }  # fmt: skip

    def values(event: Event) -> list[Any]:
        row = outbox_row(event)
        return [converters.get(name, _same)(row[name]) for name in names]

    return lambda connection, event: raw.write(connection, sql, values(event))


def _same(value: Any) -> Any:
    return value


async def _clear(source: SQLAlchemySession, target: SQLAlchemySession) -> None:
    async with source.transaction() as connection:
        await connection.execute(outbox.delete())
    async with target.transaction() as connection:
        await connection.execute(inbox.delete())
        await connection.execute(projection.delete())


async def _throughput(source: SQLAlchemySession, target: SQLAlchemySession) -> float:
    """10,000 pending messages, each of its own aggregate; one relay drains them."""
    events = [Event("item", str(n), "item.created", {"id": str(make_item(n).id), "name": "x"})
              for n in range(10_000)]  # fmt: skip
    async with source.transaction() as connection:
        await connection.execute(outbox.insert(), [outbox_row(event) for event in events])
    relay = Relay(source, {"*": idempotent(target, "bench", project, inbox=inbox)}, outbox=outbox)
    started = time.perf_counter()
    while await relay.run_once():
        pass
    return len(events) / (time.perf_counter() - started)


async def _latency(source: SQLAlchemySession, target: SQLAlchemySession) -> tuple[float, float]:
    """Writes at 200/s for 5 s with the relay running; each message's time from its
    commit (written into the payload just before) to its handler's commit."""
    delays: list[float] = []
    all_in = asyncio.Event()

    def arrived(messages: Sequence[Message]) -> None:
        delays.extend(time.time() - m.payload["sent"] for m in messages)
        if len(delays) >= 1000:
            all_in.set()

    async def timed(uow: UnitOfWork, messages: Sequence[Message]) -> None:
        await project(uow, messages)
        uow.after_commit(lambda: arrived(messages))

    relay = Relay(source, {"*": idempotent(target, "latency", timed, inbox=inbox)},
                  outbox=outbox)  # fmt: skip
    async with relay.running():
        start = time.perf_counter()
        for n in range(1000):
            await asyncio.sleep(max(0.0, start + n / 200 - time.perf_counter()))
            key = make_item(9_000_000 + n).id
            async with UnitOfWork(source) as uow:
                await uow.publish(Event("item", str(key), "item.created",
                                        {"id": key, "name": "x", "sent": time.time()}),
                                  outbox=outbox)  # fmt: skip
                await uow.commit()
        await asyncio.wait_for(all_in.wait(), 10)
    delays.sort()
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    return statistics.median(delays) * 1000, p99 * 1000

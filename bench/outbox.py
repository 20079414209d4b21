"""The outbox's benchmarks: what `uow.publish` adds to a write, how fast a relay carries
messages into another database through an idempotent handler, and how long a change
takes from its commit to the projection under a steady write load."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Integer, String, Table, Uuid, make_url

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
THROUGHPUT = "outbox: relay into another database, inbox checked (messages/s)"
LATENCY = "outbox latency: commit to projection at a steady 200 writes/s (ms)"
WITHOUT_PUBLISH = "without publish"


async def project(uow: UnitOfWork, messages: Sequence[Message]) -> None:
    rows = [{"id": m.payload["id"], "name": m.payload["name"], "version": 1} for m in messages]
    async with uow.connection() as connection:
        await connection.execute(projection.insert(), rows)


async def measure_outbox(url: str, rounds: int, count: int, rates: dict[str, Any]) -> None:
    target_url = make_url(url).set(database=TARGET_DATABASE).render_as_string(hide_password=False)
    source, target = SQLAlchemySession(url), SQLAlchemySession(target_url)
    for session, schema in ((source, source_schema), (target, target_schema)):
        async with session.transaction() as connection:
            await connection.run_sync(schema.drop_all)
            await connection.run_sync(schema.create_all)
    counter = itertools.count(5_000_000)
    for _ in range(rounds):
        for publishing in (False, True):
            started = time.perf_counter()
            for _ in range(count):
                async with UnitOfWork(source) as uow:
                    item = await ItemRepository(uow).create(make_item(next(counter)))
                    if publishing:
                        await uow.publish(Event("item", str(item.id), "item.created",
                                                {"id": item.id}), outbox=outbox)  # fmt: skip
                    await uow.commit()
            approach = "with publish" if publishing else WITHOUT_PUBLISH
            rates[PUBLISH][approach].append(count / (time.perf_counter() - started))
        await _clear(source, target)
        rates[THROUGHPUT]["relay, batches of 500"].append(await _throughput(source, target))
        await _clear(source, target)
    p50, p99 = await _latency(source, target)
    rates[LATENCY]["p50"].append(p50)
    rates[LATENCY]["p99"].append(p99)
    await source.disconnect()
    await target.disconnect()


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

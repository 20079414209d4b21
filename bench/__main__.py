"""`make bench`: run every workload on SQLite, PostgreSQL and MariaDB, write docs/benchmarks.md.

python -m bench                      # full run, writes docs/benchmarks.md
python -m bench --quick --output -   # a smoke run, prints the report
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import itertools
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import delete, event, make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from fastapi_building_blocks import Filter, SQLAlchemySession
from fastapi_building_blocks.dialects import DEFAULT_ENGINE_OPTIONS

from . import outbox, workloads
from .drivers import DRIVERS
from .http import measure_http
from .schema import (
    START,
    ItemRepository,
    VersionedItem,
    VersionedItemRepository,
    items,
    make_item,
    schema,
)

SEEDED = 10_000
VERSIONED = 1_000
DEFAULT_URLS = {
    "sqlite": None,  # a file in a temporary directory
    "postgresql": os.environ.get(
        "BENCH_POSTGRESQL_URL", "postgresql+asyncpg://fbb:fbb@127.0.0.1:5432/fbb_bench"
    ),
    "mariadb": os.environ.get(
        "BENCH_MARIADB_URL", "mysql+aiomysql://fbb:fbb@127.0.0.1:3306/fbb_bench"
    ),
}
#: The prompt replica of each server (tests/servers/ensure.sh runs them).
REPLICA_PORTS = {"postgresql": 5433, "mariadb": 3307}
#: The rows of the replica table, and the one they compare to.
PRIMARY_READ = "primary, no replicas"
ROUTED_READ = "replica, routed"
AFTER_A_WRITE = "replica, routed, after a write"


@dataclass(frozen=True)
class Plan:
    rounds: int
    single: int  # operations per round for single-row workloads
    pages: int
    bulk_rows: int
    concurrent_tasks: int
    per_task: int
    http_seconds: float
    http_clients: int


FULL = Plan(5, single=400, pages=150, bulk_rows=20_000, concurrent_tasks=50, per_task=40,
            http_seconds=4, http_clients=16)  # fmt: skip
QUICK = Plan(1, single=20, pages=10, bulk_rows=500, concurrent_tasks=10, per_task=5,
             http_seconds=1, http_clients=2)  # fmt: skip

Rates = dict[str, dict[str, list[float]]]  # workload -> approach -> ops/s per round
#: Prefix of the rows that count connections opened rather than operations per second.
OPENED = "opened: "


@dataclass(frozen=True)
class Table:
    """One table of a backend's section: the workloads it holds and what they compare to."""

    holds: Callable[[str], bool]
    approach: str
    references: dict[str, str]  # column heading -> reference approach
    opened: bool = False  # a column of connections opened per round
    unit: str = "ops/s"

    def render(self, rates: Rates) -> list[str]:
        headings = ["operation", self.approach, self.unit, *self.references]
        if self.opened:
            headings.append("connections opened per round")
        lines = [
            "| " + " | ".join(headings) + " |",
            "| --- | --- | " + " | ".join("---:" for _ in headings[2:]) + " |",
        ]
        for workload, approaches in rates.items():
            if not self.holds(workload):
                continue
            medians = {name: statistics.median(values) for name, values in approaches.items()}
            opened = rates.get(f"{OPENED}{workload}", {})
            for name, value in medians.items():
                cells = [workload, name, f"{value:,.0f}"]
                cells += [ratio(value, medians.get(ref)) for ref in self.references.values()]
                if self.opened:
                    cells.append(f"{statistics.median(opened[name]):.0f}")
                lines.append("| " + " | ".join(cells) + " |")
        return [*lines, ""]


TABLES = (
    Table(
        lambda workload: (
            not workload.startswith(("observability", "pool", "replicas", "outbox", OPENED))
        ),
        "approach",
        {
            "vs Core prebuilt": workloads.CORE_PREBUILT,
            "vs Core held": workloads.CORE_HELD,
            "vs Core idiomatic": workloads.CORE_IDIOMATIC,
            "vs raw": workloads.RAW,
        },
    ),
    Table(
        lambda workload: workload.startswith("pool"),
        "pool",
        {"vs sized to the load": "sized to the load"},
        opened=True,
    ),
    Table(
        lambda workload: workload.startswith("replicas"),
        "where the read goes",
        {"vs primary": PRIMARY_READ, "vs replica routed": ROUTED_READ},
    ),
    Table(
        lambda workload: workload in (outbox.PUBLISH, outbox.RAW_PUBLISH, outbox.THROUGHPUT),
        "approach",
        {"vs without publish": outbox.WITHOUT_PUBLISH},
    ),
    Table(lambda workload: workload == outbox.LATENCY, "percentile", {}, unit="ms"),
    Table(  # against nothing, and against the SDK used by hand
        lambda workload: workload.startswith("observability"),
        "approach",
        {"vs hooks off": "hooks off", "vs SDK by hand": "OpenTelemetry SDK by hand, every span"},
    ),
)


async def rate(approach: workloads.Approach, count: int) -> float:
    started = time.perf_counter()
    if isinstance(approach, workloads.Held):
        async with approach.scope() as held:
            for _ in range(count):
                await approach.run(held)
    else:
        for _ in range(count):
            await approach()
    return count / (time.perf_counter() - started)


async def measure(
    rates: Rates, name: str, workload: workloads.Workload, count: int, only: str | None
) -> None:
    """One round of a workload: each approach on its own connections, then each inside
    one transaction (rows named "..., in one transaction")."""
    if only is not None and only not in name:
        return
    for approach, operation in workload.own.items():
        rates[name][approach].append(await rate(operation, count))
    for approach, operation in workload.in_transaction.items():
        rates[f"{name}, in one transaction"][approach].append(await rate(operation, count))


def plain_engine(
    url: sqlalchemy.engine.URL,
    dialect: str,
    pool_size: int = DEFAULT_ENGINE_OPTIONS.pool_size,
    overflow: int = DEFAULT_ENGINE_OPTIONS.max_overflow,
) -> AsyncEngine:
    """The reference engine: what a careful hand-rolled layer would create, with the same
    pool as the package's sessions."""
    engine = create_async_engine(
        url, pool_size=pool_size, max_overflow=overflow, pool_pre_ping=True
    )
    if dialect == "sqlite":

        @event.listens_for(engine.sync_engine, "connect")
        def same_durability(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute("PRAGMA synchronous = NORMAL")

    return engine


async def remove_new_rows(session: SQLAlchemySession) -> None:
    async with session.transaction() as connection:
        await connection.execute(
            delete(items).where(items.c.created_at >= START + timedelta(seconds=SEEDED))
        )


async def measure_backend(
    name: str, url: str, plan: Plan, only: str | None = None
) -> tuple[Rates, dict[str, str]]:
    session = SQLAlchemySession(url)
    dialect = session.dialect.name
    engine = plain_engine(session.url, dialect)
    async with session.transaction() as connection:
        await connection.run_sync(schema.drop_all)
        await connection.run_sync(schema.create_all)
    repository = ItemRepository(session)
    seeded = [make_item(n) for n in range(SEEDED)]
    await repository.bulk_create(seeded)
    versioned = VersionedItemRepository(session)
    versioned_seeded = [VersionedItem(**vars(make_item(n))) for n in range(VERSIONED)]
    await versioned.bulk_create(versioned_seeded)
    driver = DRIVERS[name]()
    ctx = workloads.Context(repository, session, engine, driver, seeded, itertools.count())
    first = await repository.keyset_page(
        workloads.PAGE_FILTERS, sort=["-score"], limit=workloads.PAGE_SIZE
    )
    assert first.next_cursor is not None
    versions = {name: await server_version(session)}

    rates: Rates = defaultdict(lambda: defaultdict(list))
    cost = "observability: get_by_id + update, repository"
    costs = workloads.observability_cost(ctx)  # its SDK providers, made once per backend
    for _ in range(plan.rounds):
        single = {
            "get by primary key": workloads.get_by_key(ctx),
            "insert one": workloads.insert_one(ctx),
            "update by primary key": workloads.update_by_key(ctx),
            "update by primary key, version checked": workloads.update_versioned_by_key(
                ctx, versioned_seeded
            ),
        }
        for workload, approaches in single.items():
            await measure(rates, workload, approaches, plan.single, only)
        victims = {
            approach: [make_item(2_000_000 + next(ctx.counter)) for _ in range(plan.single)]
            for approach in workloads.DELETING
        }
        await repository.bulk_create([item for rows in victims.values() for item in rows])
        deleting = workloads.delete_by_key(ctx, victims)
        await measure(rates, "delete by primary key", deleting, plan.single, only)
        await remove_new_rows(session)  # the victims a filtered run left
        pages = {
            "offset page of 50 (filter, sort, total)": workloads.offset_page(ctx),
            "keyset page of 50 (filter, sort)": workloads.keyset_page(
                ctx, first.next_cursor, first.items[-1]
            ),
        }
        for workload, approaches in pages.items():
            await measure(rates, workload, approaches, plan.pages, only)
        if only is not None:
            continue
        for approach, operation in costs.items():
            rates[cost][approach].append(await rate(operation, plan.single))
        for approach, bulk in workloads.bulk_create(ctx).items():
            batch = [make_item(1_000_000 + next(ctx.counter)) for _ in range(plan.bulk_rows)]
            started = time.perf_counter()
            await bulk(batch)
            rates[f"bulk_create {plan.bulk_rows:,} rows (rows/s)"][approach].append(
                plan.bulk_rows / (time.perf_counter() - started)
            )
            await remove_new_rows(session)
        await remove_new_rows(session)
    await engine.dispose()
    await session.disconnect()
    if only is not None:
        return rates, versions
    await measure_concurrency(name, url, plan, seeded, rates)
    await measure_pools(url, plan, seeded, rates)
    if name in REPLICA_PORTS:
        await measure_replicas(url, REPLICA_PORTS[name], plan, seeded, rates)
        raw = (plain_engine(session.url, dialect), DRIVERS[name]())
        await outbox.measure_outbox(url, raw, plan.rounds, plan.single, rates)
        await raw[0].dispose()
    http_rounds = max(1, plan.rounds // 2)
    rates.update(await measure_http(url, http_rounds, plan.http_seconds, plan.http_clients))
    return rates, versions


async def measure_concurrency(
    name: str, url: str, plan: Plan, seeded: list[Any], rates: Rates
) -> None:
    """50 tasks sharing a pool of 10, each getting rows by key."""
    session = SQLAlchemySession(url, pool_size=10, max_overflow=0)
    engine = plain_engine(session.url, session.dialect.name, pool_size=10, overflow=0)
    ctx = workloads.Context(
        ItemRepository(session), session, engine, DRIVERS[name](), seeded, itertools.count()
    )
    own = workloads.get_by_key(ctx).own
    compared = (workloads.REPOSITORY, workloads.CORE_PREBUILT, workloads.CORE_ON_SESSION,
                workloads.RAW)  # fmt: skip
    label = f"{plan.concurrent_tasks} tasks over a pool of 10, get by primary key"
    for _ in range(plan.rounds):
        for approach in compared:
            operation = own[approach]
            assert not isinstance(operation, workloads.Held)
            rates[label][approach].append(await concurrently(operation, plan))
    await engine.dispose()
    await session.disconnect()


async def concurrently(operation: workloads.Operation, plan: Plan) -> float:
    """Operations per second of `concurrent_tasks` tasks each running `per_task` of them."""

    async def task() -> None:
        for _ in range(plan.per_task):
            await operation()

    started = time.perf_counter()
    await asyncio.gather(*(task() for _ in range(plan.concurrent_tasks)))
    return plan.concurrent_tasks * plan.per_task / (time.perf_counter() - started)


#: The pools the repository is measured on under concurrent load, by name.
POOLS: dict[str, dict[str, int]] = {
    "default pool": {},
    "5 + 10 overflow": {"pool_size": 5, "max_overflow": 10},
    "sized to the load": {},  # pool_size = concurrent tasks, set per plan
}


async def measure_pools(url: str, plan: Plan, seeded: list[Any], rates: Rates) -> None:
    """The repository under `concurrent_tasks` tasks on each pool of `POOLS`, and how many
    connections each opened per round (what `db.client.connection.create_time` counts)."""
    label = f"pool: {plan.concurrent_tasks} tasks, repository get by primary key"
    sessions = {}
    opened: dict[str, int] = {}
    for pool, options in POOLS.items():
        if pool == "sized to the load":
            options = {"pool_size": plan.concurrent_tasks, "max_overflow": 0}
        session = sessions[pool] = SQLAlchemySession(url, **options)  # type: ignore[arg-type]
        opened[pool] = 0

        @event.listens_for(session.engine.sync_engine, "connect")
        def count(_dbapi: Any, _record: Any, pool: str = pool) -> None:
            opened[pool] += 1

    keys = itertools.cycle([item.id for item in seeded])
    for _ in range(plan.rounds):
        for pool, session in sessions.items():
            repository = ItemRepository(session)
            before = opened[pool]

            async def get(repository: ItemRepository = repository) -> Any:
                return await repository.get(next(keys))

            rates[label][pool].append(await concurrently(get, plan))
            rates[f"{OPENED}{label}"][pool].append(opened[pool] - before)
    for session in sessions.values():
        await session.disconnect()


async def measure_replicas(
    url: str, replica_port: int, plan: Plan, seeded: list[Any], rates: Rates
) -> None:
    """Get by key through a session with a replica, against one without: what routing
    costs. The replica runs on the same machine as the primary, the same server type.

    "after a write" reads in a context that wrote, once the replica has the write: each
    read first asks the replica whether it has replayed it (read-your-writes).
    """
    replica_url = make_url(url).set(port=replica_port).render_as_string(hide_password=False)
    routed = SQLAlchemySession(url, replica_urls=[replica_url])
    sessions = {
        PRIMARY_READ: SQLAlchemySession(url),
        "replica, direct (no routing)": SQLAlchemySession(replica_url),
        ROUTED_READ: routed,
    }
    for session in sessions.values():
        await session.connect()
    keys = itertools.cycle([item.id for item in seeded])
    changes = itertools.count()
    label = "replicas: get by primary key"

    def getter(session: SQLAlchemySession) -> workloads.Operation:
        repository = ItemRepository(session)
        return lambda: repository.get(next(keys))

    async def after_a_write(asked_every_read: bool) -> float:
        await ItemRepository(routed).update_where(  # a change: MariaDB logs no empty one
            [Filter("id", "eq", seeded[0].id)], {"score": 1_000_000 + next(changes)}
        )
        await asyncio.sleep(0.2)  # long enough for the replica to replay it
        get = getter(routed)
        if not asked_every_read:
            return await rate(get, plan.single)
        replica = routed.replica_set.replicas[0]  # type: ignore[union-attr]

        async def forgetting() -> Any:
            replica.applied = -1  # as if each read followed a write of its own
            return await get()

        return await rate(forgetting, plan.single)

    for _ in range(plan.rounds):
        for approach, session in sessions.items():
            rates[label][approach].append(await rate(getter(session), plan.single))
        for asked, approach in (
            (False, AFTER_A_WRITE),
            (True, f"{AFTER_A_WRITE}, asked every read"),
        ):
            context = contextvars.Context()  # a request of its own, that wrote
            written = await asyncio.create_task(after_a_write(asked), context=context)
            rates[label][approach].append(written)
    for session in sessions.values():
        await session.disconnect()


async def server_version(session: SQLAlchemySession) -> str:
    if session.dialect.name == "sqlite":
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version}"
    async with session.statement() as connection:
        version = (await connection.execute(text("SELECT version()"))).scalar_one()
    return str(version).split(" on ")[0].split(",")[0]


def report(results: dict[str, tuple[Rates, dict[str, str]]], plan: Plan) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench`). Ratios compare approaches **within this",
        "run** (the machine is shared and noisy; absolute numbers move between runs). Each",
        f"figure is the median of {plan.rounds} interleaved rounds, in operations per second",
        '(rows per second for bulk). Unless the approach says "held", each operation takes',
        "its own pooled connection, as a request handler would. References run on a plain",
        "`create_async_engine` with the same pool (10, pre-ping) and, on SQLite, the same",
        "`synchronous=NORMAL`.",
        "",
        "- **core idiomatic**: a Core statement built on every call;",
        "- **core prebuilt**: the statement built once, values as bound parameters;",
        "- **core prebuilt, package session**: the same prebuilt statement on the package's",
        "  `SQLAlchemySession` (its one-round-trip ping, skipped for connections returned",
        "  less than 0.5 s ago; autocommit for single statements; on MariaDB, explicit BEGIN",
        "  for transactions): what the session's tuning",
        "  gains, apart from the repository layer. The repository adds its driver path on",
        "  top (docs/architecture.md).",
        "- **core prebuilt, held connection**: the prebuilt statement on one connection held",
        "  for the whole round (`async with engine.connect()`, a commit after each write), as",
        "  most services hold a connection or session. No checkout per operation: it is the",
        "  reference the repository's own held form, the unit of work, is measured against.",
        "- **..., in one transaction** rows: every operation of a round inside one",
        "  transaction: the repository through one `UnitOfWork` (committed at the end) against",
        "  Core prebuilt on a held connection in one `engine.begin()`, and against the raw",
        "  driver in one transaction of its own (the ceiling: no layer at all).",
        "- **pool** rows: the repository's get by key under concurrent tasks on the default",
        "  pool, on 5 + 10 (SQLAlchemy's usual) and on a pool as large as the tasks, with the",
        "  connections each opened per round (the count of `db.client.connection.create_time`).",
        "- **raw driver**: the driver's own API on a connection from the same pool, which",
        "  resets it on return as SQLAlchemy does (a ROLLBACK; on MariaDB, outside autocommit,",
        "  after every statement). The package's MariaDB connections live in autocommit, so",
        "  its single-row calls are one statement on the server and can beat this reference.",
        "- **bulk_create** rows: the items are made before the clock starts (a uuid7 key and",
        "  a dataclass cost about as much as COPYing the row); each approach turns them into",
        "  its own input (dicts for Core, tuples for the driver) inside the timing.",
        "- **HTTP** rows: the example service (a POST writes the user and its outbox event",
        "  in one unit of work; the relay is off, its cost is in the outbox rows) and a",
        "  minimal FastAPI app on plain prebuilt Core, which writes the user only",
        "  (bench/core_app.py), each a real uvicorn process, loaded by wrk (one thread, the",
        "  stated connections; a Python client capped both near 200 requests/s); both with",
        "  telemetry off and a pool as large as the load (bench/http.py says why).",
        "- **replicas** rows: get by key on a session without replicas (the primary), on",
        "  the replica directly, and routed to it by a session with `replica_urls` (the",
        "  prompt replica `make test` runs, the same server type on the same machine);",
        '  "after a write": in a context that wrote, once the replica has the write: the',
        "  first read asks the replica whether it has replayed it (one more small query on",
        '  the same connection), later ones know; "asked every read": each read asks, as when',
        "  every request writes before it reads (the check's cost per request).",
        "- **outbox** rows: a single-row create in a unit of work without and with",
        "  `uow.publish`, and the same two writes through the raw driver in one transaction",
        "  of its own (the outbox row's cost to the server, with no layer); the four are",
        "  taken in turn, one write each, so that the server's drift in commit time (fsync)",
        "  falls on all of them alike. The relay drains 10,000 pending messages, each of its",
        "  own aggregate, into the analytics database through an `idempotent` handler.",
        "- **observability** rows compare the repository with no hooks against the same calls",
        "  with the OpenTelemetry hook recording into a real SDK (batch span processor,",
        "  in-memory metric reader): a span for every call, or for 10% of traces",
        "  (`ParentBased(TraceIdRatioBased(0.1))`; the histogram still records every call);",
        "  and against the floor any integration pays: the same span and histogram point made",
        "  by hand with the SDK's own `start_as_current_span` around the same calls, no hook.",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {platform.platform()}, {os.cpu_count()} cores, {cpu_model()}",
        f"- Python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}, "
        f"{driver_versions()}",
        "- servers: " + ", ".join(v for _, versions in results.values() for v in versions.values()),
        "",
    ]
    for backend, (rates, _) in results.items():
        lines += [f"## {backend}", ""]
        for table in TABLES:
            lines += table.render(rates)
    return "\n".join(lines)


def ratio(value: float, reference: float | None) -> str:
    return "n/a" if reference is None else f"{value / reference:.2f}"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def driver_versions() -> str:
    from importlib.metadata import version

    return ", ".join(f"{name} {version(name)}" for name in ("asyncpg", "aiomysql", "aiosqlite"))


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="tiny counts: checks the bench runs")
    parser.add_argument("--backend", action="append", choices=sorted(DEFAULT_URLS))
    parser.add_argument("--output", default="docs/benchmarks.md", help="file, or - for stdout")
    parser.add_argument(
        "--only", help="single-row and page workloads whose name contains this text, nothing else"
    )
    parser.add_argument("--rounds", type=int, help="rounds instead of the plan's")
    options = parser.parse_args(argv)
    plan = QUICK if options.quick else FULL
    if options.rounds:
        plan = replace(plan, rounds=options.rounds)
    results = {}
    with tempfile.TemporaryDirectory() as directory:
        for backend in options.backend or list(DEFAULT_URLS):
            url = DEFAULT_URLS[backend] or f"sqlite+aiosqlite:///{directory}/bench.db"
            print(f"bench: {backend} ...", file=sys.stderr, flush=True)
            results[backend] = await measure_backend(backend, url, plan, options.only)
    text_report = report(results, plan)
    if options.output == "-":
        print(text_report)
    else:
        await asyncio.to_thread(Path(options.output).write_text, text_report + "\n")
        print(f"bench: wrote {options.output}", file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))

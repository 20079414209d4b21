"""One operation, many ways: the repository, Core built per call, Core prebuilt, the raw driver.

Each approach is an `Operation` (a zero-argument coroutine function doing one operation on
a connection of its own) or a `Held` one (each operation inside something held for the
whole round: a connection, a transaction, a unit of work). The runner calls it repeatedly.
References run on a plain engine set up as a hand-rolled layer would be: the same pool
(10, pre-ping) and, on SQLite, the same synchronous=NORMAL.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from fastapi_building_blocks import Filter, SQLAlchemyRepository, SQLAlchemySession, UnitOfWork

from .drivers import AsyncpgDriver, RawDriver
from .schema import (
    COLUMNS,
    Item,
    ItemRepository,
    VersionedItem,
    VersionedItemRepository,
    items,
    make_item,
    versioned_items,
)

Operation = Callable[[], Awaitable[Any]]
Opener = Callable[[], AbstractAsyncContextManager[AsyncConnection]]


@dataclass(frozen=True)
class Held:
    """An approach whose operations all run inside one `scope` per round (opened and
    closed inside the timing, once): how a service holds a connection or a unit of work."""

    scope: Callable[[], AbstractAsyncContextManager[Any]]
    run: Callable[[Any], Awaitable[Any]]


Approach = Operation | Held

REPOSITORY = "repository"
CORE_IDIOMATIC = "core idiomatic"
CORE_PREBUILT = "core prebuilt"
CORE_ON_SESSION = "core prebuilt, package session"
CORE_HELD = "core prebuilt, held connection"
RAW = "raw driver"
UNIT_OF_WORK = "repository, unit of work"
#: The held connection and the raw driver inside one transaction, as the sources of
#: their inputs are named.
CORE_HELD_IN_TRANSACTION = "core prebuilt, held connection, in transaction"
RAW_IN_TRANSACTION = "raw driver, in transaction"
#: Every approach that deletes rows, by input name; each gets its own victims.
DELETING = (
    REPOSITORY, CORE_IDIOMATIC, CORE_PREBUILT, CORE_ON_SESSION, CORE_HELD, RAW,
    UNIT_OF_WORK, CORE_HELD_IN_TRANSACTION, RAW_IN_TRANSACTION,
)  # fmt: skip

GET = select(items).where(items.c.id == bindparam("key"))
INSERT = items.insert()
UPDATE = (
    update(items)
    .where(items.c.id == bindparam("key"))
    .values({name: bindparam(f"new_{name}") for name in COLUMNS[1:]})
)
DELETE = delete(items).where(items.c.id == bindparam("key"))
PAGE_FILTERS = [Filter("category", "eq", "c7"), Filter("active", "eq", True)]
PAGE_SIZE = 50


def values_of(item: Item) -> dict[str, Any]:
    return {name: getattr(item, name) for name in COLUMNS}


@dataclass
class Context:
    """What the workloads share: the repository, the plain engine, the driver, the data."""

    repository: ItemRepository
    session: SQLAlchemySession
    engine: AsyncEngine
    driver: RawDriver
    seeded: list[Item]
    counter: itertools.count[int]

    async def raw(self, use: Callable[[Any], Awaitable[Any]]) -> Any:
        async with self.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            return await use(raw.driver_connection)

    @asynccontextmanager
    async def raw_transaction(self) -> AsyncIterator[Any]:
        """The driver's connection, from the same pool, inside one transaction."""
        async with self.engine.connect() as connection:
            raw = (await connection.get_raw_connection()).driver_connection
            async with self.driver.transaction(raw):
                yield raw

    def next_items(self) -> Callable[[], Item]:
        return lambda: make_item(1_000_000 + next(self.counter))


@dataclass
class Workload:
    """A workload's approaches: each operation on its own connection (as a request handler
    without a unit of work runs), and every operation of a round in one transaction."""

    own: dict[str, Approach]
    in_transaction: dict[str, Approach] = field(default_factory=dict)


@dataclass(frozen=True)
class SingleRow:
    """One single-row operation, written once per way of running it.

    `next_input(approach)` gives the approach its next key or item; the others run the
    operation on it: through a repository, as Core built per call or prebuilt on a
    connection, or through the driver's own connection.
    """

    next_input: Callable[[str], Any]
    repository: Callable[[Any, Any], Awaitable[Any]]
    idiomatic: Callable[[AsyncConnection, Any], Awaitable[Any]]
    prebuilt: Callable[[AsyncConnection, Any], Awaitable[Any]]
    raw: Callable[[RawDriver, Any, Any], Awaitable[Any]]
    reads: bool
    repository_type: type[SQLAlchemyRepository[Any, Any]] = ItemRepository


def single_row(ctx: Context, work: SingleRow) -> Workload:
    """Every approach of a single-row workload.

    Core prebuilt runs on the plain engine, on the package's own session (same pool, ping
    and autocommit tuning as the repository: what the tuning gains apart from the layer),
    and on one connection held for the round (committing each write), as most services
    hold a connection or session. Inside one transaction the unit of work is measured
    against that held connection in one transaction.
    """
    session = ctx.session
    repository = work.repository_type(session)
    engine = ctx.engine
    per_call = engine.connect if work.reads else engine.begin
    per_call_on_session = session.connection if work.reads else session.statement

    def own(approach: str, opener: Opener, run: Callable[..., Awaitable[Any]]) -> Operation:
        async def operation() -> Any:
            value = work.next_input(approach)
            async with opener() as connection:
                return await run(connection, value)

        return operation

    async def through_repository() -> Any:
        return await work.repository(repository, work.next_input(REPOSITORY))

    async def raw() -> Any:
        value = work.next_input(RAW)
        return await ctx.raw(lambda connection: work.raw(ctx.driver, connection, value))

    async def held(connection: AsyncConnection) -> Any:
        result = await work.prebuilt(connection, work.next_input(CORE_HELD))
        if not work.reads:
            await connection.commit()
        return result

    async def held_in_transaction(connection: AsyncConnection) -> Any:
        return await work.prebuilt(connection, work.next_input(CORE_HELD_IN_TRANSACTION))

    async def in_unit_of_work(bound: Any) -> Any:
        return await work.repository(bound, work.next_input(UNIT_OF_WORK))

    inside = ctx.driver.in_transaction()

    async def raw_in_transaction(connection: Any) -> Any:
        return await work.raw(inside, connection, work.next_input(RAW_IN_TRANSACTION))

    @asynccontextmanager
    async def unit_of_work() -> AsyncIterator[Any]:
        async with UnitOfWork(session) as uow:
            yield work.repository_type(uow)
            await uow.commit()

    return Workload(
        own={
            REPOSITORY: through_repository,
            CORE_IDIOMATIC: own(CORE_IDIOMATIC, per_call, work.idiomatic),
            CORE_PREBUILT: own(CORE_PREBUILT, per_call, work.prebuilt),
            CORE_ON_SESSION: own(CORE_ON_SESSION, per_call_on_session, work.prebuilt),
            CORE_HELD: Held(engine.connect, held),
            RAW: raw,
        },
        in_transaction={
            UNIT_OF_WORK: Held(unit_of_work, in_unit_of_work),
            CORE_HELD: Held(engine.begin, held_in_transaction),
            RAW: Held(ctx.raw_transaction, raw_in_transaction),
        },
    )


def get_by_key(ctx: Context) -> Workload:
    keys = itertools.cycle([item.id for item in ctx.seeded])

    async def idiomatic(connection: AsyncConnection, key: Any) -> Any:
        return (await connection.execute(select(items).where(items.c.id == key))).first()

    async def prebuilt(connection: AsyncConnection, key: Any) -> Any:
        return (await connection.execute(GET, {"key": key})).first()

    return single_row(ctx, SingleRow(
        next_input=lambda _: next(keys),
        repository=lambda repository, key: repository.get(key),
        idiomatic=idiomatic,
        prebuilt=prebuilt,
        raw=lambda driver, connection, key: driver.get(connection, key),
        reads=True,
    ))  # fmt: skip


def insert_one(ctx: Context) -> Workload:
    fresh = ctx.next_items()

    async def idiomatic(connection: AsyncConnection, item: Item) -> None:
        await connection.execute(insert(items).values(values_of(item)))

    async def prebuilt(connection: AsyncConnection, item: Item) -> None:
        await connection.execute(INSERT, values_of(item))

    return single_row(ctx, SingleRow(
        next_input=lambda _: fresh(),
        repository=lambda repository, item: repository.create(item),
        idiomatic=idiomatic,
        prebuilt=prebuilt,
        raw=lambda driver, connection, item: driver.insert(connection, item),
        reads=False,
    ))  # fmt: skip


def update_by_key(ctx: Context) -> Workload:
    targets = itertools.cycle(ctx.seeded)
    change = itertools.count()

    def changed(_approach: str) -> Item:
        return replace(next(targets), score=next(change) % 1000)

    async def idiomatic(connection: AsyncConnection, item: Item) -> None:
        new = values_of(item)
        key = new.pop("id")
        await connection.execute(update(items).where(items.c.id == key).values(new))

    async def prebuilt(connection: AsyncConnection, item: Item) -> None:
        params = {f"new_{name}": value for name, value in values_of(item).items()}
        params["key"] = item.id
        await connection.execute(UPDATE, params)

    return single_row(ctx, SingleRow(
        next_input=changed,
        repository=lambda repository, item: repository.update(item),
        idiomatic=idiomatic,
        prebuilt=prebuilt,
        raw=lambda driver, connection, item: driver.update(connection, item),
        reads=False,
    ))  # fmt: skip


VERSIONED_UPDATE = (
    update(versioned_items)
    .where(versioned_items.c.id == bindparam("key"))
    .where(versioned_items.c.version == bindparam("expected"))
    .values(
        {name: bindparam(f"new_{name}") for name in COLUMNS[1:]}
        | {"version": bindparam("new_version")}
    )
)


def update_versioned_by_key(ctx: Context, seeded: list[VersionedItem]) -> Workload:
    """An update that names the version it read; every approach checks the row matched.

    The seeded items carry the stored version: each successful update moves it on, so the
    next approach (and the next round) reads what is stored.
    """
    targets = itertools.cycle(seeded)
    change = itertools.count()

    def stored(item: VersionedItem, matched: int) -> None:
        if matched != 1:
            raise RuntimeError(f"version {item.version} of {item.id} was not the stored one")
        item.version += 1

    async def through_repository(repository: Any, item: VersionedItem) -> None:
        updated = await repository.update(replace(item, score=next(change) % 1000))
        item.version = updated.version

    async def idiomatic(connection: AsyncConnection, item: VersionedItem) -> None:
        new = values_of(item)
        key = new.pop("id")
        statement = (
            update(versioned_items)
            .where(versioned_items.c.id == key, versioned_items.c.version == item.version)
            .values(new | {"version": item.version + 1})
        )
        stored(item, (await connection.execute(statement)).rowcount)

    async def prebuilt(connection: AsyncConnection, item: VersionedItem) -> None:
        params = {f"new_{name}": value for name, value in values_of(item).items()}
        params.update(key=item.id, expected=item.version, new_version=item.version + 1)
        stored(item, (await connection.execute(VERSIONED_UPDATE, params)).rowcount)

    async def raw(driver: RawDriver, connection: Any, item: VersionedItem) -> None:
        stored(item, await driver.update_versioned(connection, item, item.version))

    return single_row(ctx, SingleRow(
        next_input=lambda _: next(targets),
        repository=through_repository,
        idiomatic=idiomatic,
        prebuilt=prebuilt,
        raw=raw,
        reads=False,
        repository_type=VersionedItemRepository,
    ))  # fmt: skip


def delete_by_key(ctx: Context, victims: dict[str, list[Item]]) -> Workload:
    """Deletes rows the runner inserted beforehand, one list per approach (`DELETING`)."""
    pools = {name: iter(rows) for name, rows in victims.items()}

    def key_for(approach: str) -> Any:
        return next(pools[approach]).id

    async def idiomatic(connection: AsyncConnection, key: Any) -> None:
        await connection.execute(delete(items).where(items.c.id == key))

    async def prebuilt(connection: AsyncConnection, key: Any) -> None:
        await connection.execute(DELETE, {"key": key})

    return single_row(ctx, SingleRow(
        next_input=key_for,
        repository=lambda repository, key: repository.delete(key),
        idiomatic=idiomatic,
        prebuilt=prebuilt,
        raw=lambda driver, connection, key: driver.delete(connection, key),
        reads=False,
    ))  # fmt: skip


def pages(
    ctx: Context,
    repository_page: Callable[[Any], Awaitable[Any]],
    core_page: Callable[[AsyncConnection, Any], Awaitable[Any]],
    statements: Callable[[], Any],
    raw_page: Callable[[RawDriver, Any], Awaitable[Any]],
) -> Workload:
    """A page workload's approaches: the repository, Core built per call and prebuilt, and
    the raw driver, each on a connection of its own; Core prebuilt on a held connection;
    and the unit of work against a held connection and the raw driver inside one
    transaction."""
    session = ctx.session
    prebuilt = statements()

    async def own(built: Any) -> Any:
        async with ctx.engine.connect() as connection:
            return await core_page(connection, built)

    @asynccontextmanager
    async def unit_of_work() -> AsyncIterator[Any]:
        async with UnitOfWork(session) as uow:
            yield ItemRepository(uow)
            await uow.commit()

    async def held(connection: AsyncConnection) -> Any:
        return await core_page(connection, prebuilt)

    return Workload(
        own={
            REPOSITORY: lambda: repository_page(ctx.repository),
            CORE_IDIOMATIC: lambda: own(statements()),
            CORE_PREBUILT: lambda: own(prebuilt),
            CORE_HELD: Held(ctx.engine.connect, held),
            RAW: lambda: ctx.raw(lambda connection: raw_page(ctx.driver, connection)),
        },
        in_transaction={
            UNIT_OF_WORK: Held(unit_of_work, repository_page),
            CORE_HELD: Held(ctx.engine.begin, held),
            RAW: Held(ctx.raw_transaction, lambda connection: raw_page(ctx.driver, connection)),
        },
    )


def offset_page(ctx: Context) -> Workload:
    """Page 3 of 50 with two filters and a sort, plus the total: what a list endpoint does."""

    def statements() -> tuple[Any, Any]:
        where = (items.c.category == "c7", items.c.active == True)  # noqa: E712
        count = select(func.count()).select_from(items).where(*where)
        page = (
            select(items).where(*where).order_by(items.c.score.desc(), items.c.id.desc())
            .limit(PAGE_SIZE).offset(2 * PAGE_SIZE)
        )  # fmt: skip
        return count, page

    async def repository(repository: ItemRepository) -> Any:
        return await repository.search(PAGE_FILTERS, sort=["-score"], page=3, page_size=50)

    async def core(connection: AsyncConnection, pair: tuple[Any, Any]) -> Any:
        total = (await connection.execute(pair[0])).scalar_one()
        return total, (await connection.execute(pair[1])).all()

    async def raw(driver: RawDriver, connection: Any) -> Any:
        return await driver.offset_page(connection, PAGE_SIZE, 2 * PAGE_SIZE)

    return pages(ctx, repository, core, statements, raw)


def keyset_page(ctx: Context, cursor: str, last: Item) -> Workload:
    """The page after `last` in descending score order, 50 rows."""

    def statement() -> Any:  # the repository's shape: ties in the sort's direction, a bound
        after = or_(
            items.c.score < bindparam("score"),
            (items.c.score == bindparam("score")) & (items.c.id < bindparam("key")),
        )
        return (
            select(items)
            .where(items.c.category == "c7", items.c.active == True)  # noqa: E712
            .where(items.c.score <= bindparam("score"), after)
            .order_by(items.c.score.desc(), items.c.id.desc()).limit(PAGE_SIZE + 1)
        )  # fmt: skip

    params = {"score": last.score, "key": last.id}

    async def repository(repository: ItemRepository) -> Any:
        return await repository.keyset_page(PAGE_FILTERS, sort=["-score"], cursor=cursor, limit=50)

    async def core(connection: AsyncConnection, built: Any) -> Any:
        return (await connection.execute(built, params)).all()

    async def raw(driver: RawDriver, connection: Any) -> Any:
        return await driver.keyset_page(connection, last.score, last.id, PAGE_SIZE)

    return pages(ctx, repository, core, statement, raw)


BulkOperation = Callable[[list[Item]], Awaitable[Any]]


def bulk_create(ctx: Context) -> dict[str, BulkOperation]:
    """New items in one call each; the runner makes them before the clock starts (making
    an item, uuid7 key included, costs about as much as COPYing it) and deletes them after.
    Each approach turns the items into its own input inside the timing."""

    async def repository(batch: list[Item]) -> None:
        await ctx.repository.bulk_create(batch)

    async def core(batch: list[Item]) -> None:
        values = [values_of(item) for item in batch]
        async with ctx.engine.begin() as connection:
            await connection.execute(INSERT, values)

    async def raw(batch: list[Item]) -> None:
        records = [ctx.driver.row(item) for item in batch]
        await ctx.raw(lambda connection: ctx.driver.write_many(connection, records))

    operations: dict[str, BulkOperation] = {
        "repository": repository,
        "core prebuilt": core,
        "raw driver": raw,
    }
    if isinstance(ctx.driver, AsyncpgDriver):
        driver = ctx.driver

        async def copy(batch: list[Item]) -> None:
            records = [driver.row(item) for item in batch]
            await ctx.raw(lambda connection: driver.copy(connection, records))

        operations["raw COPY"] = copy
    return operations


def observability_cost(ctx: Context) -> dict[str, Operation]:
    """The same single-row repository calls with no hooks, and with OpenTelemetry recording."""
    from contextlib import contextmanager

    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.sdk.trace.sampling import ParentBased, Sampler, TraceIdRatioBased
    from opentelemetry.trace import SpanKind

    from fastapi_building_blocks import observability

    class Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    def recording(sampler: Sampler | None = None) -> observability.OpenTelemetryHook:
        tracer_provider = TracerProvider(sampler=sampler)
        tracer_provider.add_span_processor(BatchSpanProcessor(Discard()))  # as services do
        meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
        return observability.OpenTelemetryHook(tracer_provider, meter_provider)

    every_call, tenth = recording(), recording(ParentBased(TraceIdRatioBased(0.1)))
    keys = itertools.cycle([item.id for item in ctx.seeded])

    @contextmanager
    def only(*hooks: observability.Hook) -> Any:
        saved = observability.registered_hooks()
        for registered in saved:
            observability.remove_hook(registered)
        for added in hooks:
            observability.add_hook(added)
        try:
            yield
        finally:
            for added in hooks:
                observability.remove_hook(added)
            for registered in saved:
                observability.add_hook(registered)

    async def mixed() -> None:
        key = next(keys)
        item = await ctx.repository.get_by_id(key)
        await ctx.repository.update(replace(item, score=(item.score + 1) % 1000))

    async def off() -> None:
        with only():
            await mixed()

    async def on() -> None:
        with only(every_call):
            await mixed()

    async def sampled() -> None:  # spans for 10% of traces; the histogram gets every call
        with only(tenth):
            await mixed()

    unconfigured = observability.OpenTelemetryHook()  # global providers, no SDK set up

    async def default() -> None:  # the hook registered, with no SDK configured
        with only(unconfigured):
            await mixed()

    session = ctx.repository.session
    table = ctx.repository.table.name
    by_operation = {
        name: observability.Operation(
            name, table, session.system_name, session.database_name, session.pool_name
        )
        for name in ("get_by_id", "update")
    }

    @contextmanager
    def by_hand(name: str) -> Any:  # what a service would write around each call itself
        operation = by_operation[name]
        started = time.perf_counter()
        with every_call.tracer.start_as_current_span(
            operation.span_name, kind=SpanKind.CLIENT, attributes=operation.attributes
        ):
            yield
        every_call.duration.record(time.perf_counter() - started, operation.attributes)

    async def sdk_alone() -> None:  # the floor: the same span and point, no package hook
        with only():
            with by_hand("get_by_id"):
                item = await ctx.repository.get_by_id(next(keys))
            with by_hand("update"):
                await ctx.repository.update(replace(item, score=(item.score + 1) % 1000))

    return {
        "hooks off": off,
        "default hook, no SDK": default,
        "OpenTelemetry SDK, every span": on,
        "OpenTelemetry SDK, 10% of traces": sampled,
        "OpenTelemetry SDK by hand, every span": sdk_alone,
    }

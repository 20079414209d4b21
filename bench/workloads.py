"""One operation, four ways: repository, Core built per call, Core prebuilt, raw driver.

Each entry is a zero-argument coroutine function doing one operation; the runner calls it
repeatedly. References run on a plain engine set up as a hand-rolled layer would be: the
same pool (5 + 10, pre-ping) and, on SQLite, the same synchronous=NORMAL.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from fastapi_building_blocks import Filter

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
CORE_ON_SESSION = "core prebuilt, package session"

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
    engine: AsyncEngine
    driver: RawDriver
    seeded: list[Item]
    counter: itertools.count[int]

    async def raw(self, use: Callable[[Any], Awaitable[Any]]) -> Any:
        async with self.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            return await use(raw.driver_connection)

    def next_items(self) -> Callable[[], Item]:
        return lambda: make_item(1_000_000 + next(self.counter))


def get_by_key(ctx: Context) -> dict[str, Operation]:
    keys = itertools.cycle([item.id for item in ctx.seeded])

    async def repository() -> Any:
        return await ctx.repository.get(next(keys))

    async def core_idiomatic() -> Any:
        async with ctx.engine.connect() as connection:
            statement = select(items).where(items.c.id == next(keys))
            return (await connection.execute(statement)).first()

    def core_prebuilt(open_connection: Opener, _approach: str) -> Operation:
        async def run() -> Any:
            async with open_connection() as connection:
                return (await connection.execute(GET, {"key": next(keys)})).first()

        return run

    async def raw() -> Any:
        key = next(keys)
        return await ctx.raw(lambda connection: ctx.driver.get(connection, key))

    return _five(repository, core_idiomatic, core_prebuilt, raw, ctx, reads=True)


def insert_one(ctx: Context) -> dict[str, Operation]:
    fresh = ctx.next_items()

    async def repository() -> Any:
        return await ctx.repository.create(fresh())

    async def core_idiomatic() -> None:
        async with ctx.engine.begin() as connection:
            await connection.execute(insert(items).values(values_of(fresh())))

    def core_prebuilt(open_connection: Opener, _approach: str) -> Operation:
        async def run() -> None:
            async with open_connection() as connection:
                await connection.execute(INSERT, values_of(fresh()))

        return run

    async def raw() -> None:
        item = fresh()
        await ctx.raw(lambda connection: ctx.driver.insert(connection, item))

    return _five(repository, core_idiomatic, core_prebuilt, raw, ctx, reads=False)


def update_by_key(ctx: Context) -> dict[str, Operation]:
    targets = itertools.cycle(ctx.seeded)
    change = itertools.count()

    def changed() -> Item:
        return replace(next(targets), score=next(change) % 1000)

    async def repository() -> Any:
        return await ctx.repository.update(changed())

    async def core_idiomatic() -> None:
        item = changed()
        new = values_of(item)
        key = new.pop("id")
        async with ctx.engine.begin() as connection:
            await connection.execute(update(items).where(items.c.id == key).values(new))

    def core_prebuilt(open_connection: Opener, _approach: str) -> Operation:
        async def run() -> None:
            item = changed()
            params = {f"new_{name}": value for name, value in values_of(item).items()}
            params["key"] = item.id
            async with open_connection() as connection:
                await connection.execute(UPDATE, params)

        return run

    async def raw() -> None:
        item = changed()
        await ctx.raw(lambda connection: ctx.driver.update(connection, item))

    return _five(repository, core_idiomatic, core_prebuilt, raw, ctx, reads=False)


VERSIONED_UPDATE = (
    update(versioned_items)
    .where(versioned_items.c.id == bindparam("key"))
    .where(versioned_items.c.version == bindparam("expected"))
    .values(
        {name: bindparam(f"new_{name}") for name in COLUMNS[1:]}
        | {"version": bindparam("new_version")}
    )
)


def update_versioned_by_key(
    ctx: Context, repository: VersionedItemRepository, seeded: list[VersionedItem]
) -> dict[str, Operation]:
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

    async def run_repository() -> Any:
        item = next(targets)
        updated = await repository.update(replace(item, score=next(change) % 1000))
        item.version = updated.version

    async def core_idiomatic() -> None:
        item = next(targets)
        new = values_of(item)
        key = new.pop("id")
        statement = (
            update(versioned_items)
            .where(versioned_items.c.id == key, versioned_items.c.version == item.version)
            .values(new | {"version": item.version + 1})
        )
        async with ctx.engine.begin() as connection:
            stored(item, (await connection.execute(statement)).rowcount)

    def core_prebuilt(open_connection: Opener, _approach: str) -> Operation:
        async def run() -> None:
            item = next(targets)
            params = {f"new_{name}": value for name, value in values_of(item).items()}
            params.update(key=item.id, expected=item.version, new_version=item.version + 1)
            async with open_connection() as connection:
                stored(item, (await connection.execute(VERSIONED_UPDATE, params)).rowcount)

        return run

    async def raw() -> None:
        item = next(targets)
        matched = await ctx.raw(
            lambda connection: ctx.driver.update_versioned(connection, item, item.version)
        )
        stored(item, matched)

    return _five(run_repository, core_idiomatic, core_prebuilt, raw, ctx, reads=False)


def delete_by_key(ctx: Context, victims: dict[str, list[Item]]) -> dict[str, Operation]:
    """Deletes rows the runner inserted beforehand, one list per approach."""
    pools = {name: iter(rows) for name, rows in victims.items()}

    async def repository() -> None:
        await ctx.repository.delete(next(pools["repository"]).id)

    async def core_idiomatic() -> None:
        key = next(pools["core idiomatic"]).id
        async with ctx.engine.begin() as connection:
            await connection.execute(delete(items).where(items.c.id == key))

    def core_prebuilt(open_connection: Opener, approach: str) -> Operation:
        async def run() -> None:
            key = next(pools[approach]).id
            async with open_connection() as connection:
                await connection.execute(DELETE, {"key": key})

        return run

    async def raw() -> None:
        key = next(pools["raw driver"]).id
        await ctx.raw(lambda connection: ctx.driver.delete(connection, key))

    return _five(repository, core_idiomatic, core_prebuilt, raw, ctx, reads=False)


def offset_page(ctx: Context) -> dict[str, Operation]:
    """Page 3 of 50 with two filters and a sort, plus the total: what a list endpoint does."""

    def statements() -> tuple[Any, Any]:
        where = (items.c.category == "c7", items.c.active == True)  # noqa: E712
        count = select(func.count()).select_from(items).where(*where)
        page = (
            select(items).where(*where).order_by(items.c.score.desc(), items.c.id.desc())
            .limit(PAGE_SIZE).offset(2 * PAGE_SIZE)
        )  # fmt: skip
        return count, page

    prebuilt = statements()

    async def repository() -> Any:
        return await ctx.repository.search(PAGE_FILTERS, sort=["-score"], page=3, page_size=50)

    async def core(pair: tuple[Any, Any]) -> Any:
        async with ctx.engine.connect() as connection:
            total = (await connection.execute(pair[0])).scalar_one()
            return total, (await connection.execute(pair[1])).all()

    async def core_idiomatic() -> Any:
        return await core(statements())

    async def core_prebuilt() -> Any:
        return await core(prebuilt)

    return {
        "repository": repository,
        "core idiomatic": core_idiomatic,
        "core prebuilt": core_prebuilt,
    }


def keyset_page(ctx: Context, cursor: str, last: Item) -> dict[str, Operation]:
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

    prebuilt = statement()
    params = {"score": last.score, "key": last.id}

    async def repository() -> Any:
        return await ctx.repository.keyset_page(
            PAGE_FILTERS, sort=["-score"], cursor=cursor, limit=50
        )

    async def core_idiomatic() -> Any:
        async with ctx.engine.connect() as connection:
            return (await connection.execute(statement(), params)).all()

    async def core_prebuilt() -> Any:
        async with ctx.engine.connect() as connection:
            return (await connection.execute(prebuilt, params)).all()

    return {
        "repository": repository,
        "core idiomatic": core_idiomatic,
        "core prebuilt": core_prebuilt,
    }


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


def _five(
    repository: Operation,
    core_idiomatic: Operation,
    core_prebuilt: Callable[[Opener, str], Operation],
    raw: Operation,
    ctx: Context,
    *,
    reads: bool,
) -> dict[str, Operation]:
    """The approaches of a single-row workload; Core prebuilt runs twice: on the plain
    engine, and on the package's own session (same pool, ping and autocommit tuning as the
    repository), which separates what the tuning gains from what the layer costs."""
    session = ctx.repository.session
    return {
        "repository": repository,
        "core idiomatic": core_idiomatic,
        "core prebuilt": core_prebuilt(
            ctx.engine.connect if reads else ctx.engine.begin, "core prebuilt"
        ),
        CORE_ON_SESSION: core_prebuilt(
            session.connection if reads else session.statement, CORE_ON_SESSION
        ),
        "raw driver": raw,
    }


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

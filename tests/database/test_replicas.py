"""Reads on a real PostgreSQL streaming replica; writes, units of work and read-your-writes
on the primary. tests/servers/ensure.sh runs the replica on port 5433."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from sqlalchemy import make_url, text

from fastapi_building_blocks import SQLAlchemySession, UnitOfWork
from fastapi_building_blocks.fastapi import health_router, open_databases
from fastapi_building_blocks.observability import PoolMetrics
from tests.backends import POSTGRESQL_URL
from tests.schema import Parent, SQLParents, create_tables, key_of, parents

T = TypeVar("T")
REPLICA_URL = make_url(POSTGRESQL_URL).set(port=5433).render_as_string(hide_password=False)
REPLAYED = "SELECT pg_last_wal_replay_lsn() >= CAST(CAST(:p AS TEXT) AS pg_lsn)"
UNREACHABLE_URL = make_url(POSTGRESQL_URL).set(port=5439).render_as_string(hide_password=False)


async def elsewhere(work: Awaitable[T]) -> T:
    """`work` in a context of its own: another request, which wrote nothing."""
    return await asyncio.create_task(work, context=contextvars.Context())  # type: ignore[arg-type]


async def replica_caught_up(session: SQLAlchemySession) -> None:
    for _ in range(200):
        async with session.engine.connect() as connection:
            lsn = (await connection.execute(text("SELECT pg_current_wal_lsn()::text"))).scalar()
        replica = SQLAlchemySession(REPLICA_URL)
        async with replica.engine.connect() as connection:
            done = (await connection.execute(text(REPLAYED), {"p": lsn})).scalar()
        await replica.disconnect()
        if done:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the replica never caught up")


async def replay(paused: bool) -> None:
    replica = SQLAlchemySession(REPLICA_URL)
    async with replica.engine.connect() as connection:
        verb = "pause" if paused else "resume"
        await connection.execute(text(f"SELECT pg_wal_replay_{verb}()"))
    await replica.disconnect()


@pytest.fixture
async def replicated() -> AsyncIterator[SQLAlchemySession]:
    # No lag bound here: a replica held behind would otherwise get no reads at all (its
    # lag counts from the last transaction it replayed), and these tests read from it.
    session = SQLAlchemySession(POSTGRESQL_URL, replica_urls=[REPLICA_URL], max_replica_lag=3600)
    await create_tables(session)
    async with session.transaction() as connection:
        await connection.execute(parents.delete())
    await session.connect()
    await replica_caught_up(session)
    yield session
    await replay(paused=False)
    await session.disconnect()


async def test_reads_outside_a_unit_of_work_go_to_the_replica(
    replicated: SQLAlchemySession,
) -> None:
    assert replicated.replica_set is not None
    await elsewhere(SQLParents(replicated).count())

    assert (
        replicated.replica_set.routed.get(f"{replicated.replica_set.replicas[0].session.pool_name}")
        == 1
    )
    assert "primary" not in replicated.replica_set.routed


async def test_a_write_is_read_back_at_once_though_the_replica_is_behind(
    replicated: SQLAlchemySession,
) -> None:
    await replay(paused=True)
    parents_repository = SQLParents(replicated)

    created = await parents_repository.create(Parent(label="fresh"))  # this context wrote
    mine = await parents_repository.get(key_of(created))
    others = await elsewhere(SQLParents(replicated).get(key_of(created)))

    assert mine == created  # read from the primary: the replica has not replayed it
    assert others is None  # another context reads the replica, held behind


async def test_a_unit_of_work_commit_counts_as_this_contexts_write(
    replicated: SQLAlchemySession,
) -> None:
    await replay(paused=True)
    async with UnitOfWork(replicated) as uow:
        created = await SQLParents(uow).create(Parent(label="in a unit of work"))
        await uow.commit()

    assert await SQLParents(replicated).get(key_of(created)) == created


async def test_once_the_replica_has_replayed_the_write_it_serves_the_read(
    replicated: SQLAlchemySession,
) -> None:
    assert replicated.replica_set is not None
    created = await SQLParents(replicated).create(Parent(label="replayed"))
    await replica_caught_up(replicated)
    routed_before = dict(replicated.replica_set.routed)

    assert await SQLParents(replicated).get(key_of(created)) == created
    assert replicated.replica_set.routed.get("primary", 0) == routed_before.get("primary", 0)


async def test_an_unreachable_replica_is_skipped_and_reads_fall_back_to_the_primary() -> None:
    session = SQLAlchemySession(POSTGRESQL_URL, replica_urls=[UNREACHABLE_URL], connect_timeout=0)
    await create_tables(session)
    await session.connect()  # the replica's failure does not stop the start
    assert session.replica_set is not None
    replica = session.replica_set.replicas[0]

    counted = await elsewhere(SQLParents(session).count())
    await session.disconnect()

    assert isinstance(counted, int)
    assert replica.down_until > 0
    assert session.replica_set.routed == {"primary": 1}


async def test_a_replica_further_behind_than_the_bound_gets_no_reads() -> None:
    session = SQLAlchemySession(POSTGRESQL_URL, replica_urls=[REPLICA_URL], max_replica_lag=0.3)
    await session.connect()
    assert session.replica_set is not None
    await replica_caught_up(session)
    try:
        await replay(paused=True)
        await SQLParents(session).create(Parent(label="the replica will not see this yet"))
        await asyncio.sleep(0.6)
        session.replica_set.replicas[0].lag_checked_at = float("-inf")  # measure now
        await elsewhere(SQLParents(session).count())
        lag = session.replica_set.replicas[0].lag_seconds
    finally:
        await replay(paused=False)
        await session.disconnect()

    assert lag is not None
    assert lag > 0.3
    assert session.replica_set.routed == {"primary": 1}


async def test_readiness_reports_each_replica_and_stays_ready_when_one_is_down() -> None:
    session = SQLAlchemySession(
        POSTGRESQL_URL, replica_urls=[REPLICA_URL, UNREACHABLE_URL], connect_timeout=0
    )
    app = FastAPI()
    app.include_router(health_router)
    async with open_databases(app, {"default": session}):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            ready = await client.get("/health/ready")

    replicas = ready.json()["databases"]["default"]["replicas"]
    assert ready.status_code == 200
    assert [replica["status"] for replica in replicas] == ["ok", "unavailable"]
    assert ":5433/" in replicas[0]["pool"]
    assert "***" in replicas[0]["pool"]  # the password stays a secret


async def test_reads_per_target_and_replica_lag_are_metrics() -> None:
    reader = InMemoryMetricReader()
    pool_metrics = PoolMetrics(MeterProvider(metric_readers=[reader]))
    session = SQLAlchemySession(POSTGRESQL_URL, replica_urls=[REPLICA_URL], max_replica_lag=3600)
    pool_metrics.watch(session)
    await session.connect()
    await elsewhere(SQLParents(session).count())
    await session.disconnect()

    data = reader.get_metrics_data()
    assert data is not None
    points = {
        metric.name: {
            point.attributes["db.client.connection.pool.name"]: point.value  # type: ignore[index, union-attr]
            for point in metric.data.data_points
        }
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name.startswith("db.client.replica.")
    }
    replica = session.replica_set.replicas[0].session.pool_name  # type: ignore[union-attr]
    assert points["db.client.replica.reads"] == {replica: 1}
    assert replica in points["db.client.replica.lag"]

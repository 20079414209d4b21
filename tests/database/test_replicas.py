"""Reads on real replicas, writes and units of work on the primary, read-your-writes.

tests/servers/ensure.sh runs, for PostgreSQL and for MariaDB, a streaming replica and a
replica that applies changes 2 s late. Which server answered a read is asked of the
server in the same read (its port), never taken from the package's own bookkeeping.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import Integer, Select, literal_column, select, text

from fastapi_building_blocks import SQLAlchemySession, UnitOfWork
from fastapi_building_blocks.database.replicas import (
    read_your_writes_token,
    restore_read_your_writes,
)
from fastapi_building_blocks.fastapi import health_router, open_databases
from fastapi_building_blocks.observability import (
    OpenTelemetryHook,
    PoolMetrics,
    add_hook,
    remove_hook,
)
from tests.schema import Parent, SQLParents, create_tables, parents
from tests.servers.replicas import CLUSTERS, POSTGRESQL, Cluster

T = TypeVar("T")
#: Within a few seconds, as the issue asks of a replica that comes back.
COMES_BACK_SECONDS = 15.0


async def elsewhere(work: Callable[[], Awaitable[T]]) -> T:
    """`work` in a context of its own: another request, which wrote nothing."""
    return await asyncio.create_task(_run(work), context=contextvars.Context())


async def _run(work: Callable[[], Awaitable[T]]) -> T:
    return await work()


async def answered_by(session: SQLAlchemySession | UnitOfWork, cluster: Cluster) -> int:
    """The port of the server that answered one read through the repository."""
    rows = await SQLParents(session).query(text(cluster.answered_by_sql))
    return int(next(iter(rows[0].values())))


async def sees(session: SQLAlchemySession, cluster: Cluster, label: str) -> tuple[int, bool]:
    """In one read: which server answered, and whether it has the parent `label`."""
    statement = select(
        literal_column(cluster.answered_by_sql.removeprefix("SELECT "), Integer).label("port"),
        select(parents.c.id).where(parents.c.label == label).exists().label("found"),
    )
    (row,) = await SQLParents(session).query(statement)
    return int(row["port"]), bool(row["found"])


async def on_server(url: str, sql: str) -> Any:
    """`sql` on one server directly (no routing): the tests' way to look behind the package."""
    session = SQLAlchemySession(url)
    try:
        async with session.connection() as connection:  # one statement, no transaction
            result = await connection.execute(text(sql))
            return result.scalar() if result.returns_rows else None
    finally:
        await session.disconnect()


async def caught_up(cluster: Cluster, url: str) -> None:
    """Wait until the replica at `url` has everything the primary has now."""
    marker = f"caught-up-{uuid.uuid4().hex[:12]}"
    plain = SQLAlchemySession(cluster.primary_url)
    await SQLParents(plain).create(Parent(label=marker))
    await plain.disconnect()
    sql = f"SELECT count(*) FROM parents WHERE label = '{marker}'"
    for _ in range(200):
        if await on_server(url, sql):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{url} never caught up")


def session_on(cluster: Cluster, *replica_urls: str, **options: Any) -> SQLAlchemySession:
    options.setdefault("max_replica_lag", 3600)  # tests that hold a replica behind read it
    return SQLAlchemySession(cluster.primary_url, replica_urls=replica_urls, **options)


@pytest.fixture(params=CLUSTERS, ids=[cluster.name for cluster in CLUSTERS])
async def cluster(request: pytest.FixtureRequest) -> AsyncIterator[Cluster]:
    cluster: Cluster = request.param
    plain = SQLAlchemySession(cluster.primary_url)
    await create_tables(plain)
    async with plain.transaction() as connection:
        await connection.execute(parents.delete())
    await plain.disconnect()
    await caught_up(cluster, cluster.replica_url)
    yield cluster
    await on_server(cluster.replica_url, cluster.release_sql)


# -- where reads and writes go ------------------------------------------------------------


async def test_reads_outside_a_unit_of_work_are_answered_by_the_replica(cluster: Cluster) -> None:
    async with session_on(cluster, cluster.replica_url) as session:
        ports = [await elsewhere(lambda: answered_by(session, cluster)) for _ in range(10)]

    assert ports == [cluster.replica_port] * 10


async def test_a_unit_of_work_writes_and_reads_on_the_primary(cluster: Cluster) -> None:
    async with session_on(cluster, cluster.replica_url) as session, UnitOfWork(session) as uow:
        port = await answered_by(uow, cluster)
        await SQLParents(uow).create(Parent(label="in a unit of work"))
        await uow.commit()

    assert port == cluster.primary_port
    # The replicas refuse writes (hot standby, read_only), so a stored row was written
    # on the primary.
    stored = "SELECT count(*) FROM parents WHERE label = 'in a unit of work'"
    assert await on_server(cluster.primary_url, stored) == 1


async def test_a_locking_read_goes_to_the_primary(cluster: Cluster) -> None:
    port_sql = cluster.answered_by_sql.removeprefix("SELECT ")
    async with session_on(cluster, cluster.replica_url) as session:
        await SQLParents(session).create(Parent(label="to lock"))
        await caught_up(cluster, cluster.replica_url)
        statement: Select[Any] = (
            select(literal_column(port_sql)).where(parents.c.label == "to lock").with_for_update()
        )
        rows = await elsewhere(lambda: SQLParents(session).query(statement))

    assert [next(iter(row.values())) for row in rows] == [cluster.primary_port]


# -- read-your-writes ---------------------------------------------------------------------


async def test_the_delayed_replica_is_behind(cluster: Cluster) -> None:
    """What the read-your-writes tests below stand on: a write reaches it late."""
    async with session_on(cluster, cluster.delayed_url) as session:
        await SQLParents(session).create(Parent(label="late"))
        port, found = await elsewhere(lambda: sees(session, cluster, "late"))

    assert (port, found) == (cluster.delayed_port, False)


async def test_a_thousand_writes_are_each_read_back_at_once(
    cluster: Cluster, record_property: Callable[[str, object], None]
) -> None:
    """Each round is a request of its own: create, then read the row back. The replicas
    are the delayed one and the prompt one, taken in turn."""
    async with session_on(cluster, cluster.delayed_url, cluster.replica_url) as session:

        async def round_trip(number: int) -> tuple[int, bool]:
            await SQLParents(session).create(Parent(label=f"round-{number}"))
            return await sees(session, cluster, f"round-{number}")

        answers = [await elsewhere(lambda n=n: round_trip(n)) for n in range(1000)]  # type: ignore[misc]

    missed = [number for number, (_, found) in enumerate(answers) if not found]
    on_replicas = sum(port != cluster.primary_port for port, _ in answers)
    record_property("read_back_from_a_replica", f"{on_replicas / 10:.1f}%")
    assert missed == []
    assert {port for port, _ in answers} <= {cluster.primary_port, cluster.replica_port}


async def test_once_the_delayed_replica_has_the_write_it_serves_the_writer(
    cluster: Cluster,
) -> None:
    async with session_on(cluster, cluster.delayed_url) as session:

        async def write_then_read_later() -> tuple[tuple[int, bool], tuple[int, bool]]:
            await SQLParents(session).create(Parent(label="written"))
            at_once = await sees(session, cluster, "written")
            await caught_up(cluster, cluster.delayed_url)
            return at_once, await sees(session, cluster, "written")

        at_once, later = await elsewhere(write_then_read_later)

    assert at_once == (cluster.primary_port, True)
    assert later == (cluster.delayed_port, True)


async def write_mine(session: SQLAlchemySession) -> str | None:
    """A request that writes the parent "mine": the token it hands its client."""
    await SQLParents(session).create(Parent(label="mine"))
    return read_your_writes_token()


async def read_mine(
    session: SQLAlchemySession, cluster: Cluster, token: str | None
) -> tuple[int, bool]:
    """The client's next request, carrying `token`: who answered, and whether it saw "mine"."""
    restore_read_your_writes(token)
    return await sees(session, cluster, "mine")


async def test_a_token_carries_a_clients_writes_to_its_next_request(cluster: Cluster) -> None:
    async with session_on(cluster, cluster.delayed_url) as session:
        token = await elsewhere(lambda: write_mine(session))
        with_token = await elsewhere(lambda: read_mine(session, cluster, token))
        without = await elsewhere(lambda: read_mine(session, cluster, None))
        forged = await elsewhere(lambda: read_mine(session, cluster, "not a token"))

    assert token is not None
    assert with_token == (cluster.primary_port, True)
    assert without == (cluster.delayed_port, False)
    assert forged == (cluster.delayed_port, False)


#: Positions a forged token may carry: past MariaDB's GTID ranges (a domain above
#: 2^32 - 1: the server cannot parse it), and a WAL position PostgreSQL never reaches.
FORGED_POSITIONS = {"mariadb": "4294967296-1-1", "postgresql": "FFFFFFFF/FFFFFFFF"}


def with_position(token: str, position: str) -> str:
    """`token` with every write's position replaced by `position`."""
    document = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    forged = {key: [position, at] for key, (_, at) in document.items()}
    return base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")


async def test_a_forged_position_sends_that_read_to_the_primary_and_no_other(
    cluster: Cluster,
) -> None:
    """A token is the client's: what it claims can make its own reads more careful, never
    take a replica away from everyone else's."""
    async with session_on(cluster, cluster.replica_url) as session:
        token = await elsewhere(lambda: write_mine(session))
        assert token is not None
        forged_token = with_position(token, FORGED_POSITIONS[cluster.name])
        forged = await elsewhere(lambda: read_mine(session, cluster, forged_token))
        others = [await elsewhere(lambda: read_mine(session, cluster, None)) for _ in range(3)]

    assert forged == (cluster.primary_port, True)
    assert [port for port, _ in others] == [cluster.replica_port] * 3


# -- replicas that fail, lag, and come back -----------------------------------------------


async def test_a_replica_stopped_mid_load_costs_no_errors_and_is_used_again(
    cluster: Cluster,
) -> None:
    session = session_on(cluster, cluster.replica_url, cluster.delayed_url)
    await session.connect()
    answers: list[tuple[float, int]] = []
    errors: list[BaseException] = []
    stop = asyncio.Event()

    async def reader() -> None:
        while not stop.is_set():
            try:
                answers.append((time.monotonic(), await answered_by(session, cluster)))
            except Exception as error:
                errors.append(error)

    readers = [asyncio.create_task(reader(), context=contextvars.Context()) for _ in range(8)]
    try:
        await asyncio.sleep(0.5)
        await asyncio.to_thread(cluster.stop, cluster.replica_port)
        stopped_at = time.monotonic()
        await asyncio.sleep(1.0)
        started_at = time.monotonic()
        await asyncio.to_thread(cluster.start)
        deadline = started_at + COMES_BACK_SECONDS
        while time.monotonic() < deadline:
            if any(at > started_at and port == cluster.replica_port for at, port in answers):
                break
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.gather(*readers)
        await session.disconnect()
        await asyncio.to_thread(cluster.start)

    while_down = {port for at, port in answers if stopped_at + 0.2 < at < started_at}
    back = [
        at - started_at for at, port in answers if at > started_at and port == cluster.replica_port
    ]
    assert errors == []
    assert while_down
    assert cluster.replica_port not in while_down
    assert back, f"the replica got no reads within {COMES_BACK_SECONDS:g}s of starting"


async def test_a_replica_further_behind_than_the_bound_gets_no_reads_until_it_catches_up(
    cluster: Cluster,
) -> None:
    session = session_on(cluster, cluster.replica_url, max_replica_lag=0.3)
    await session.connect()
    try:
        await on_server(cluster.replica_url, cluster.hold_sql)
        await elsewhere(lambda: SQLParents(session).create(Parent(label="not replayed yet")))
        await asyncio.sleep(1.2)  # past the bound, and past the next lag measurement
        while_behind = await elsewhere(lambda: answered_by(session, cluster))
        await on_server(cluster.replica_url, cluster.release_sql)
        await caught_up(cluster, cluster.replica_url)
        await asyncio.sleep(1.1)  # the next lag measurement
        ports = [await elsewhere(lambda: answered_by(session, cluster)) for _ in range(3)]
    finally:
        await on_server(cluster.replica_url, cluster.release_sql)
        await session.disconnect()

    assert while_behind == cluster.primary_port
    assert cluster.replica_port in ports


async def test_a_read_of_a_table_the_replica_has_not_applied_yet_is_answered_by_the_primary(
    cluster: Cluster,
) -> None:
    """As right after a migration: the primary has the table, the replica not yet."""
    table = f"made_just_now_{uuid.uuid4().hex[:8]}"
    await on_server(cluster.primary_url, f"CREATE TABLE {table} (id INTEGER PRIMARY KEY)")
    port_sql = cluster.answered_by_sql.removeprefix("SELECT ")
    try:
        async with session_on(cluster, cluster.delayed_url) as session:
            read = text(f"SELECT {port_sql} AS port, count(*) AS n FROM {table}")
            rows = await elsewhere(lambda: SQLParents(session).query(read))
    finally:
        await on_server(cluster.primary_url, f"DROP TABLE {table}")

    assert rows == [{"port": cluster.primary_port, "n": 0}]


async def test_an_unreachable_replica_is_skipped_and_reads_go_to_the_primary(
    cluster: Cluster,
) -> None:
    session = session_on(cluster, cluster.replica_url.replace(str(cluster.replica_port), "5439"),
                         connect_timeout=0)  # fmt: skip
    await session.connect()  # the replica's failure does not stop the start
    try:
        port = await elsewhere(lambda: answered_by(session, cluster))
    finally:
        await session.disconnect()

    assert port == cluster.primary_port


async def test_least_pending_sends_a_read_to_the_replica_with_fewer_in_flight(
    cluster: Cluster,
) -> None:
    session = session_on(
        cluster, cluster.replica_url, cluster.delayed_url, replica_strategy="least_pending"
    )
    async with session:
        ports = []
        for _ in range(4):
            async with session.connection() as held:  # one read in flight, held open
                held_port = (await held.execute(text(cluster.answered_by_sql))).scalar()
                other = await elsewhere(lambda: answered_by(session, cluster))
            ports.append((held_port, other))

    assert all({held, other} == {cluster.replica_port, cluster.delayed_port}
               for held, other in ports)  # fmt: skip


# -- what the service reports -------------------------------------------------------------


async def test_a_span_names_the_server_that_answered(cluster: Cluster) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    hook = OpenTelemetryHook(tracer_provider=provider)
    add_hook(hook)
    try:
        async with session_on(cluster, cluster.replica_url) as session:
            await elsewhere(lambda: SQLParents(session).count())
            await elsewhere(lambda: SQLParents(session).create(Parent(label="spanned")))
    finally:
        remove_hook(hook)

    spans = {span.name: span.attributes or {} for span in exporter.get_finished_spans()}
    assert spans["count parents"]["server.port"] == cluster.replica_port
    assert spans["create parents"]["server.port"] == cluster.primary_port
    assert spans["create parents"]["server.address"] == "127.0.0.1"


async def test_readiness_reports_each_replica_and_stays_ready_when_one_is_down() -> None:
    unreachable = POSTGRESQL.replica_url.replace("5433", "5439")
    session = SQLAlchemySession(
        POSTGRESQL.primary_url, replica_urls=[POSTGRESQL.replica_url, unreachable],
        connect_timeout=0,
    )  # fmt: skip
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
    assert "lag_seconds" in replicas[0]


async def test_reads_per_target_and_replica_lag_are_metrics(cluster: Cluster) -> None:
    reader = InMemoryMetricReader()
    pool_metrics = PoolMetrics(MeterProvider(metric_readers=[reader]))
    session = session_on(cluster, cluster.replica_url)
    pool_metrics.watch(session)
    async with session:
        await elsewhere(lambda: SQLParents(session).count())

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

"""Spans and metrics as an operator sees them, through the SDK's in-memory exporters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import delete

from example_service.app.infrastructure.tables import schema
from example_service.app.main import create_app
from fastapi_building_blocks import DatabaseUnavailableError, SQLAlchemySession
from fastapi_building_blocks.observability import (
    OpenTelemetryHook,
    PoolMetrics,
    add_hook,
    remove_hook,
)
from fastapi_building_blocks.observability.instrumentation import (
    instrument_app,
    instrument_sessions,
)
from tests.schema import SQLParents
from tests.service.conftest import service_settings

ALICE = {"first_name": "Alice", "last_name": "Test", "email": "alice@test.com", "username": "alice"}
SYSTEMS = {"sqlite": "sqlite", "postgresql": "postgresql", "mariadb": "mariadb"}


@dataclass
class Telemetry:
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    client: httpx.AsyncClient
    session: SQLAlchemySession
    backend: str

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def points(self, name: str) -> list[Any]:
        return metrics_named(self.metrics, name)


def metrics_named(reader: InMemoryMetricReader, name: str) -> list[Any]:
    data = reader.get_metrics_data()
    return [
        metric
        for resource in (data.resource_metrics if data else [])
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
    ]


@pytest.fixture
async def telemetry(service_url: str) -> AsyncIterator[Telemetry]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    hook = OpenTelemetryHook(tracer_provider, meter_provider)
    add_hook(hook)
    app = create_app(service_settings(service_url))
    instrument_app(app, tracer_provider, meter_provider)
    try:
        async with app.router.lifespan_context(app):
            session = app.state.databases["default"]
            async with session.transaction() as connection:
                for table in reversed(schema.sorted_tables):
                    await connection.execute(delete(table))
            uninstrument = instrument_sessions([session], tracer_provider, meter_provider)
            pool = PoolMetrics(meter_provider)
            pool.watch(session)
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                spans.clear()
                backend = service_url.split("+")[0].replace("mysql", "mariadb")
                yield Telemetry(spans, reader, client, session, backend)
            uninstrument()
    finally:
        remove_hook(hook)


def children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    return [span for span in spans if span.parent and span.parent.span_id == parent.context.span_id]


async def test_a_request_yields_http_unit_of_work_repository_and_statement_spans(
    telemetry: Telemetry,
) -> None:
    response = await telemetry.client.post("/api/v1/users/with-welcome-post", json=ALICE)
    assert response.status_code == 201

    spans = telemetry.finished()
    http = next(s for s in spans if s.kind is SpanKind.SERVER)
    transaction = next(s for s in children(spans, http) if s.name == "transaction")
    operations = {s.name: s for s in children(spans, transaction)}
    assert {"create users", "create posts"} <= set(operations)
    create_users = operations["create users"]
    assert {
        "db.system.name": SYSTEMS[telemetry.backend],
        "db.collection.name": "users",
        "db.operation.name": "create",
    }.items() <= dict(create_users.attributes or {}).items()
    if telemetry.backend != "sqlite":
        assert create_users.attributes["db.namespace"] == "fbb_test"  # type: ignore[index]
    statements = children(spans, create_users)
    assert statements
    assert any("INSERT" in s.name or "INSERT" in str(s.attributes) for s in statements)


async def test_a_failed_operation_records_its_error_type_and_exception(
    telemetry: Telemetry,
) -> None:
    await telemetry.client.post("/api/v1/users/", json=ALICE)
    telemetry.spans.clear()

    response = await telemetry.client.post("/api/v1/users/", json=ALICE)

    assert response.status_code == 409
    failed = next(s for s in telemetry.finished() if s.name == "create users")
    assert failed.attributes["error.type"] == "UniqueViolationError"  # type: ignore[index]
    assert failed.status.status_code is StatusCode.ERROR
    assert any(event.name == "exception" for event in failed.events)


async def test_no_span_carries_a_password(telemetry: Telemetry) -> None:
    await telemetry.client.get("/api/v1/users/")
    password = telemetry.session.url.password

    for span in telemetry.finished():
        text = repr(dict(span.attributes or {}))
        assert not password or f":{password}@" not in text


async def test_the_operation_histogram_has_semantic_names_units_and_attributes(
    telemetry: Telemetry,
) -> None:
    await telemetry.client.post("/api/v1/users/", json=ALICE)
    await telemetry.client.get("/api/v1/users/")

    [histogram] = telemetry.points("db.client.operation.duration")
    assert histogram.unit == "s"
    attributes = [dict(point.attributes) for point in histogram.data.data_points]
    assert {"db.system.name", "db.operation.name", "db.collection.name"} <= set(attributes[0])
    assert {a["db.operation.name"] for a in attributes if "db.collection.name" in a} >= {
        "create", "search",
    }  # fmt: skip


async def test_pool_metrics_move_when_a_connection_is_checked_out(telemetry: Telemetry) -> None:
    def used() -> int:
        [metric] = telemetry.points("db.client.connection.count")
        return sum(
            point.value
            for point in metric.data.data_points
            if point.attributes["db.client.connection.state"] == "used"
        )

    before = used()
    async with telemetry.session.engine.connect():
        during = used()

    assert during == before + 1


async def test_a_connection_kept_between_calls_counts_as_idle(telemetry: Telemetry) -> None:
    reader = InMemoryMetricReader()
    session = SQLAlchemySession(telemetry.session.url)
    PoolMetrics(MeterProvider(metric_readers=[reader])).watch(session)

    def counts() -> dict[str, int]:
        [metric] = metrics_named(reader, "db.client.connection.count")
        return {
            point.attributes["db.client.connection.state"]: point.value
            for point in metric.data.data_points
        }

    try:
        async with session.connection():  # a single-statement call: its connection is kept
            pass
        assert session.kept_connections == 1
        assert counts() == {"used": 0, "idle": 1}
    finally:
        await session.disconnect()


async def test_callers_waiting_for_a_connection_are_pending_requests(
    telemetry: Telemetry,
) -> None:
    reader = InMemoryMetricReader()
    PoolMetrics(MeterProvider(metric_readers=[reader])).watch(
        crowded := SQLAlchemySession(telemetry.session.url, pool_size=1, max_overflow=0)
    )

    def pending() -> int:
        [metric] = metrics_named(reader, "db.client.connection.pending_requests")
        assert metric.unit == "{request}"
        return sum(point.value for point in metric.data.data_points)

    async def wait_for_a_connection() -> None:
        async with crowded.connection() as connection:
            await connection.exec_driver_sql("SELECT 1")

    async with crowded.connection():
        waiting = [asyncio.create_task(wait_for_a_connection()) for _ in range(3)]
        for _ in range(500):  # until all three are queued for the one connection
            if crowded.pending_requests == 3:
                break
            await asyncio.sleep(0.01)
        during = pending()
    await asyncio.gather(*waiting)
    await crowded.disconnect()

    assert during == 3
    assert pending() == 0


async def test_each_new_connection_records_how_long_it_took_to_open(
    telemetry: Telemetry,
) -> None:
    reader = InMemoryMetricReader()
    pool = PoolMetrics(MeterProvider(metric_readers=[reader]))
    single = SQLAlchemySession(telemetry.session.url, pool_size=1, max_overflow=0)
    pool.watch(single)

    async def select_one() -> None:
        async with single.connection() as connection:
            await connection.exec_driver_sql("SELECT 1")

    for _ in range(3):  # one connection, opened once and reused
        await select_one()
    await single.disconnect()
    await select_one()  # the pool opens a new one
    await single.disconnect()

    [metric] = metrics_named(reader, "db.client.connection.create_time")
    [point] = metric.data.data_points
    assert metric.unit == "s"
    assert dict(point.attributes) == {"db.client.connection.pool.name": single.pool_name}
    assert point.count == 2
    assert 0 < point.sum < 10


async def test_a_pool_timeout_is_counted(telemetry: Telemetry) -> None:
    starved = SQLAlchemySession(
        telemetry.session.url, pool_size=1, max_overflow=0, pool_timeout=0.2
    )
    async with starved.engine.connect():
        with pytest.raises(DatabaseUnavailableError):
            await SQLParents(starved).count()
    await starved.disconnect()

    [counter] = telemetry.points("db.client.connection.timeouts")
    assert sum(point.value for point in counter.data.data_points) == 1

"""Hooks see every operation, once, with its outcome, and can never break it."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider

from fastapi_building_blocks import SQLAlchemySession, UniqueViolationError, UnitOfWork
from fastapi_building_blocks.observability import (
    JsonFormatter,
    Observation,
    Operation,
    SlowOperationHook,
    add_hook,
    remove_hook,
)
from tests.schema import Parent, SQLParents, key_of, schema


@pytest.fixture
async def parents(tmp_path: Path) -> AsyncIterator[SQLParents]:
    session = SQLAlchemySession(f"sqlite+aiosqlite:///{tmp_path / 'hooks.db'}")
    async with session.transaction() as connection:
        await connection.run_sync(schema.create_all)
    yield SQLParents(session)
    await session.disconnect()


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None, int | None, str | None]] = []

    @contextmanager
    def __call__(self, operation: Operation) -> Iterator[Observation]:
        observation = Observation()
        error = None
        try:
            yield observation
        except Exception as failure:
            error = type(failure).__name__
            raise
        finally:
            self.seen.append((operation.name, operation.table, observation.rows, error))


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    hook = Recorder()
    add_hook(hook)
    yield hook
    remove_hook(hook)


async def test_a_hook_sees_each_operation_once_with_rows_and_errors(
    parents: SQLParents, recorder: Recorder
) -> None:
    created = await parents.create(Parent(label="a"))
    await parents.get_by_id(key_of(created))  # calls get inside: observed once, as get_by_id
    await parents.list()
    with pytest.raises(UniqueViolationError):
        await parents.create(Parent(label="a"))

    assert recorder.seen == [
        ("create", "parents", 1, None),
        ("get_by_id", "parents", 1, None),
        ("list", "parents", 1, None),
        ("create", "parents", None, "UniqueViolationError"),
    ]


async def test_a_unit_of_work_encloses_the_operations_inside_it(
    parents: SQLParents, recorder: Recorder
) -> None:
    async with UnitOfWork(parents.session) as uow:  # type: ignore[arg-type]
        await SQLParents(uow).create(Parent(label="in"))
        await uow.commit()

    assert [name for name, *_ in recorder.seen] == ["create", "transaction"]


@pytest.mark.parametrize("where", ["enter", "exit"])
async def test_a_failing_hook_is_logged_and_never_breaks_the_operation(
    parents: SQLParents, where: str, caplog: pytest.LogCaptureFixture
) -> None:
    @contextmanager
    def broken(operation: Operation) -> Iterator[Observation]:
        if where == "enter":
            raise RuntimeError("hook bug on enter")
        yield Observation()
        raise RuntimeError("hook bug on exit")

    add_hook(broken)
    try:
        created = await parents.create(Parent(label="safe"))
    finally:
        remove_hook(broken)

    assert (await parents.get_by_id(key_of(created))).label == "safe"
    assert f"hook bug on {where}" in caplog.text


async def test_operations_slower_than_the_threshold_are_logged_as_warnings(
    parents: SQLParents, caplog: pytest.LogCaptureFixture
) -> None:
    slow = SlowOperationHook(threshold_seconds=0.0)
    add_hook(slow)
    try:
        await parents.count()
    finally:
        remove_hook(slow)

    [record] = [r for r in caplog.records if r.name == "fastapi_building_blocks.slow"]
    assert record.levelno == logging.WARNING
    assert (record.operation, record.table) == ("count", "parents")  # type: ignore[attr-defined]


def test_json_logs_carry_the_current_trace_and_span_ids() -> None:
    tracer = TracerProvider().get_tracer("test")
    record = logging.LogRecord("app", logging.INFO, __file__, 1, "hello %s", ("there",), None)

    with tracer.start_as_current_span("request") as span:
        line = json.loads(JsonFormatter().format(record))

    context = span.get_span_context()
    assert line["message"] == "hello there"
    assert line["trace_id"] == f"{context.trace_id:032x}"
    assert line["span_id"] == f"{context.span_id:016x}"


def test_json_logs_keep_the_callers_own_fields() -> None:
    record = logging.LogRecord("app", logging.WARNING, __file__, 1, "refund failed", (), None)
    record.order_id = 42
    record.reason = "card expired"

    line = json.loads(JsonFormatter().format(record))

    assert (line["order_id"], line["reason"]) == (42, "card expired")
    assert (line["level"], line["logger"]) == ("WARNING", "app")
    assert "time" in line


def test_importing_the_package_registers_no_hook() -> None:
    code = (
        "import fastapi_building_blocks, fastapi_building_blocks.observability, "
        "fastapi_building_blocks.fastapi\n"
        "from fastapi_building_blocks.observability import registered_hooks\n"
        "assert registered_hooks() == (), registered_hooks()"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_a_metrics_only_setup_records_the_operation_histogram() -> None:
    code = """
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from fastapi_building_blocks.observability import OpenTelemetryHook
hook = OpenTelemetryHook()
assert not hook.active
metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))
assert hook.active
"""
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)

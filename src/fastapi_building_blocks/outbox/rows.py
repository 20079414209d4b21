"""An event as an outbox row, written by the statement each executor prepared once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from pydantic_core import to_jsonable_python
from sqlalchemy import Table

from ..database.executor import Executor, Prepared
from .messages import Event, State

_PROPAGATOR = TraceContextTextMapPropagator()
#: (executor, dialect, table) -> the prepared INSERT.
_inserts: dict[tuple[str, str, str], Prepared] = {}


def outbox_row(event: Event) -> dict[str, Any]:
    """The row for `event`: pending, available now, with the current trace (if any) so
    the delivery's span continues it. UUIDs, datetimes and decimals in the payload are
    written as JSON can hold them."""
    now = datetime.now(UTC)
    return {
        "id": event.id,
        "aggregate_type": event.aggregate_type,
        "aggregate_id": str(event.aggregate_id),
        "event_type": event.event_type,
        "payload": to_jsonable_python(event.payload),
        "traceparent": current_traceparent(),
        "created_at": now,
        "attempts": 0,
        "available_at": now,
        "state": State.PENDING.value,
        "last_error": None,
        "delivered_at": None,
    }


def current_traceparent() -> str | None:
    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def insert_statement(executor: Executor, dialect: str, table: Table) -> Prepared:
    key = (executor.key, dialect, table.name)
    prepared = _inserts.get(key)
    if prepared is None:
        columns = [column.key for column in table.columns]
        prepared = _inserts[key] = executor.prepare(table.insert(), columns)
    return prepared

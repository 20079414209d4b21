"""Repository and unit-of-work operations as OpenTelemetry spans and metrics.

Named and attributed per the stable database semantic conventions: a CLIENT span
"{db.operation.name} {db.collection.name}" with `db.system.name`, `db.namespace`,
`db.collection.name`, `db.operation.name` (and `error.type` on failure), and one point in
the `db.client.operation.duration` histogram (seconds). No query text, no URL, no
password is ever attached. Until a service configures an SDK tracer provider (or passes
providers), the hook steps aside entirely: not even no-op spans are made.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import SpanKind, TracerProvider
from sqlalchemy import exc as sa_exc

from .hooks import Observation, Operation

#: Bucket boundaries the semantic conventions recommend for db.client.operation.duration.
DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
INSTRUMENTATION = "fastapi_building_blocks"


class OpenTelemetryHook:
    """The hook registered by default; pass providers to use others than the global ones."""

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self._explicit = tracer_provider is not None
        self._tracer = trace.get_tracer(INSTRUMENTATION, tracer_provider=tracer_provider)
        meter = metrics.get_meter(INSTRUMENTATION, meter_provider=meter_provider)
        self._timeouts = meter.create_counter(
            "db.client.connection.timeouts",
            unit="{timeout}",
            description="Waits for a pooled connection that ran out of time.",
        )
        self._duration = meter.create_histogram(
            "db.client.operation.duration",
            unit="s",
            description="Duration of database client operations.",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
        )

    @property
    def active(self) -> bool:
        """Whether an SDK is set up: until then even no-op spans would cost 5-15%."""
        return self._explicit or not isinstance(
            trace.get_tracer_provider(), trace.ProxyTracerProvider
        )

    @contextmanager
    def __call__(self, operation: Operation) -> Iterator[Observation]:
        attributes: dict[str, Any] = {
            "db.system.name": operation.system,
            "db.operation.name": operation.name,
        }
        if operation.table:
            attributes["db.collection.name"] = operation.table
        if operation.namespace:
            attributes["db.namespace"] = operation.namespace
        name = f"{operation.name} {operation.table}" if operation.table else operation.name
        observation = Observation()
        started = time.perf_counter()
        try:
            with self._tracer.start_as_current_span(
                name, kind=SpanKind.CLIENT, attributes=attributes
            ) as span:
                try:
                    yield observation
                except BaseException as error:
                    attributes["error.type"] = type(error).__qualname__
                    span.set_attribute("error.type", attributes["error.type"])
                    if isinstance(error.__cause__, sa_exc.TimeoutError):  # the pool ran dry
                        pool = {"db.client.connection.pool.name": operation.pool or ""}
                        self._timeouts.add(1, pool)
                    raise
                finally:
                    if observation.rows is not None:
                        span.set_attribute("db.response.returned_rows", observation.rows)
        finally:
            # After the span has ended: the point costs no exemplar of its own span.
            self._duration.record(time.perf_counter() - started, attributes)

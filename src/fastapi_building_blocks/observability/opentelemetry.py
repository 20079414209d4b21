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
from types import TracebackType

from opentelemetry import context, metrics, trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider
from sqlalchemy import exc as sa_exc

from ..operations import Observation, Operation

#: Bucket boundaries the semantic conventions recommend for db.client.operation.duration.
DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
INSTRUMENTATION = "fastapi_building_blocks"


def _is_proxy(provider: MeterProvider) -> bool:
    """The API's placeholder before any SDK meter provider is set (it has no public name)."""
    return type(provider).__name__ == "_ProxyMeterProvider" or isinstance(
        provider, metrics.NoOpMeterProvider
    )


class OpenTelemetryHook:
    """Spans and histogram points per operation; pass providers to use others than the
    global ones. Register it with `add_hook(OpenTelemetryHook())`."""

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self._explicit = tracer_provider is not None or meter_provider is not None
        self.tracer = trace.get_tracer(INSTRUMENTATION, tracer_provider=tracer_provider)
        meter = metrics.get_meter(INSTRUMENTATION, meter_provider=meter_provider)
        self.timeouts = meter.create_counter(
            "db.client.connection.timeouts",
            unit="{timeout}",
            description="Waits for a pooled connection that ran out of time.",
        )
        self.duration = meter.create_histogram(
            "db.client.operation.duration",
            unit="s",
            description="Duration of database client operations.",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
        )

    @property
    def active(self) -> bool:
        """Whether an SDK is set up for traces or metrics: until then even no-op spans and
        points would cost 5-15%. Either one is enough (a metrics-only service still
        records its operation histogram)."""
        return (
            self._explicit
            or not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
            or not _is_proxy(metrics.get_meter_provider())
        )

    def __call__(self, operation: Operation) -> OperationSpan:
        return OperationSpan(self, operation)


class OperationSpan:
    """The span and the histogram point of one operation.

    What `start_as_current_span` does (current span, exception event, ERROR status), as
    a plain class: its generator-based context managers cost a third of the hook.
    """

    __slots__ = ("_hook", "_observation", "_operation", "_span", "_started", "_token")

    def __init__(self, hook: OpenTelemetryHook, operation: Operation) -> None:
        self._hook, self._operation = hook, operation
        self._observation = Observation()

    def __enter__(self) -> Observation:
        operation = self._operation
        self._span: Span = self._hook.tracer.start_span(
            operation.span_name, kind=SpanKind.CLIENT, attributes=operation.span_attributes
        )
        self._token = context.attach(trace.set_span_in_context(self._span))
        self._started = time.perf_counter()
        return self._observation

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        elapsed = time.perf_counter() - self._started
        span, operation = self._span, self._operation
        attributes = operation.attributes
        try:
            context.detach(self._token)
            if error is not None:
                attributes = {**attributes, "error.type": type(error).__qualname__}
                span.set_attribute("error.type", attributes["error.type"])
                if isinstance(error, Exception):  # not cancellation: use_span's rule
                    span.record_exception(error)
                    span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
                if isinstance(error.__cause__, sa_exc.TimeoutError):  # the pool ran dry
                    pool = {"db.client.connection.pool.name": operation.pool or ""}
                    self._hook.timeouts.add(1, pool)
            if self._observation.rows is not None:
                span.set_attribute("db.response.returned_rows", self._observation.rows)
        finally:
            span.end()
            # After the span has ended: the point costs no exemplar of its own span.
            self._hook.duration.record(elapsed, attributes)

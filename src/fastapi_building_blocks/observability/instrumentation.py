"""Wire OpenTelemetry's official instrumentations: HTTP spans from the FastAPI one,
statement spans from the SQLAlchemy one. Nothing here re-implements them.

Needs the `otel` extra (opentelemetry-instrumentation-fastapi / -sqlalchemy).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from ..database import SQLAlchemySession

#: Requests that get no span: probes and scrapes, polled every few seconds.
UNTRACED_PATHS = ("/metrics", "/health/live", "/health/ready")


def instrument_app(
    app: Any,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    untraced: Iterable[str] = UNTRACED_PATHS,
) -> None:
    """One server span per HTTP request, parent of every operation span inside it;
    none for the `untraced` paths."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        excluded_urls=",".join(untraced),
    )


def instrument_sessions(
    sessions: Iterable[SQLAlchemySession],
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
) -> Callable[[], None]:
    """Statement spans for every statement the sessions' engines run; returns the undo.

    The instrumentor is one per process: instrument all of an app's engines in one call.
    It declares support for SQLAlchemy < 2.1 only; it works through the event API that
    2.1 keeps, so the version check is skipped (tests/observability proves the spans).
    """
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    instrumentor = SQLAlchemyInstrumentor()
    instrumentor.instrument(
        engines=[session.engine.sync_engine for session in sessions],
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        enable_commenter=False,
        skip_dep_check=True,
    )

    def uninstrument() -> None:
        instrumentor.uninstrument()

    return uninstrument

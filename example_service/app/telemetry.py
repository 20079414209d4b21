"""OpenTelemetry for the service, configured by the standard OTEL_* environment variables
(see `fastapi_building_blocks.observability.sdk` for which ones and what they do).
Metrics are also served for Prometheus at /metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from fastapi import FastAPI

from fastapi_building_blocks import SQLAlchemySession
from fastapi_building_blocks.observability.instrumentation import (
    instrument_app,
    instrument_sessions,
)
from fastapi_building_blocks.observability.sdk import (
    configure_opentelemetry,
    serve_prometheus_metrics,
)
from fastapi_building_blocks.outbox import Relay


def instrument(app: FastAPI) -> None:
    """HTTP spans and the Prometheus endpoint; call once per app."""
    if configure_opentelemetry() is None:
        return
    instrument_app(app)
    serve_prometheus_metrics(app)


def instrument_databases(
    sessions: Iterable[SQLAlchemySession], statement_spans: bool = False
) -> Callable[[], None]:
    """Pool metrics, and statement spans if asked; returns the undo for shutdown."""
    telemetry = configure_opentelemetry()
    if telemetry is None:
        return lambda: None
    sessions = list(sessions)
    for session in sessions:
        telemetry.pool_metrics.watch(session)
    if not statement_spans:
        return lambda: None
    return instrument_sessions(sessions)


def instrument_relay(relay: Relay) -> None:
    """The outbox's backlog, age, dead count and delivery rates as metrics."""
    telemetry = configure_opentelemetry()
    if telemetry is not None:
        telemetry.relay_metrics.watch(relay)

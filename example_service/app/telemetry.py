"""OpenTelemetry for the service, configured by the standard OTEL_* environment variables.

- OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES: who is reporting;
- OTEL_EXPORTER_OTLP_ENDPOINT (+ _HEADERS, _INSECURE, _TIMEOUT): where traces and
  metrics go, over OTLP/gRPC (nothing is exported over OTLP when it is unset);
- OTEL_BSP_* and OTEL_METRIC_EXPORT_INTERVAL: how often they are sent;
- OTEL_TRACES_SAMPLER (+ _ARG): how many traces are kept;
- OTEL_SDK_DISABLED=true: no SDK at all;
- OTEL_SEMCONV_STABILITY_OPT_IN: "http" unless set, so HTTP spans and metrics follow
  the stable conventions (`http.server.request.duration`, seconds) as the database ones
  do and the dashboard expects; the FastAPI instrumentation's default is still the old
  `http.server.duration` in milliseconds.
Metrics are also served for Prometheus at /metrics.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from fastapi import FastAPI, Response
from opentelemetry import metrics, trace
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from fastapi_building_blocks import SQLAlchemySession
from fastapi_building_blocks.observability import OpenTelemetryHook, PoolMetrics, add_hook
from fastapi_building_blocks.observability.instrumentation import (
    instrument_app,
    instrument_sessions,
)

_configured: PoolMetrics | None = None


def _configure_sdk() -> PoolMetrics | None:
    """Global providers, once per process (OpenTelemetry allows setting them only once)."""
    global _configured
    if _configured is None and os.environ.get("OTEL_SDK_DISABLED", "").lower() != "true":
        os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")  # read on first use
        resource = Resource.create()
        readers: list[MetricReader] = [PrometheusMetricReader()]
        tracer_provider = TracerProvider(resource=resource)
        if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
            tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))
        add_hook(OpenTelemetryHook())  # a span and a histogram point per operation
        _configured = PoolMetrics()
    return _configured


def instrument(app: FastAPI) -> None:
    """HTTP spans and the Prometheus endpoint; call once per app."""
    if _configure_sdk() is None:
        return
    instrument_app(app)

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def instrument_database(
    session: SQLAlchemySession, statement_spans: bool = False
) -> Callable[[], None]:
    """Pool metrics, and statement spans if asked; returns the undo for shutdown."""
    pool_metrics = _configure_sdk()
    if pool_metrics is None:
        return lambda: None
    pool_metrics.watch(session)
    if not statement_spans:
        return lambda: None
    return instrument_sessions([session])

"""The OpenTelemetry SDK for a service, configured by the standard OTEL_* variables.

    telemetry = configure_opentelemetry()      # once per process; None when disabled
    if telemetry is not None:
        telemetry.pool_metrics.watch(session)
        serve_prometheus_metrics(app)          # /metrics, from the same meter provider

What it reads (the OpenTelemetry SDK's own variables, as its specification names them):

- OTEL_SDK_DISABLED=true: no SDK at all (returns None);
- OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES: who is reporting;
- OTEL_TRACES_EXPORTER, OTEL_METRICS_EXPORTER: `otlp`, `console` or `none`, comma-separated.
  Unset, they are `otlp` when OTEL_EXPORTER_OTLP_ENDPOINT is set and `none` otherwise
  (the specification's default is `otlp` to localhost, which in a service without a
  collector logs an export error every few seconds);
- OTEL_EXPORTER_OTLP_PROTOCOL: `grpc` (the default here, as the demo's collector
  listens) or `http/protobuf` (needs opentelemetry-exporter-otlp-proto-http);
- OTEL_EXPORTER_OTLP_* endpoint, headers, timeout; OTEL_BSP_*; OTEL_METRIC_EXPORT_INTERVAL;
  OTEL_TRACES_SAMPLER (+ _ARG): read by the SDK and its exporters themselves.

Metrics are also kept for Prometheus to scrape (`serve_prometheus_metrics`).
Needs the `otel` extra.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

from ..errors import ConfigurationError
from ..operations import add_hook
from .opentelemetry import OpenTelemetryHook
from .outbox import RelayMetrics
from .pool import PoolMetrics

PROMETHEUS_PATH = "/metrics"


@dataclass(frozen=True)
class Telemetry:
    """What `configure_opentelemetry` set up: the global providers, pool and outbox gauges."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    pool_metrics: PoolMetrics
    relay_metrics: RelayMetrics


@cache  # OpenTelemetry's global providers can be set once per process
def configure_opentelemetry(*, prometheus: bool = True) -> Telemetry | None:
    """Global tracer and meter providers from the environment, the operation hook
    registered (a span and a histogram point per repository operation), pool gauges."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    # The FastAPI instrumentation picks its conventions from this variable and has no
    # parameter for it: "http" gives the stable `http.server.request.duration` (seconds),
    # as the database metrics are; its default is still the old one, in milliseconds.
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
    resource = Resource.create()
    tracer_provider = TracerProvider(resource=resource)
    for span_exporter in _exporters("TRACES"):
        tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
    readers: list[MetricReader] = [
        PeriodicExportingMetricReader(exporter) for exporter in _exporters("METRICS")
    ]
    if prometheus:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader

        readers.append(PrometheusMetricReader())
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    add_hook(OpenTelemetryHook())
    return Telemetry(tracer_provider, meter_provider, PoolMetrics(), RelayMetrics())


def serve_prometheus_metrics(app: Any, path: str = PROMETHEUS_PATH) -> None:
    """Serve the Prometheus exposition of every metric at `path` (not in the schema)."""
    from fastapi import Response
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    async def prometheus_metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route(path, prometheus_metrics, methods=["GET"], include_in_schema=False)


def _exporter_names(signal: str) -> list[str]:
    variable = f"OTEL_{signal}_EXPORTER"
    default = "otlp" if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") else "none"
    names = [name.strip().lower() for name in os.environ.get(variable, default).split(",")]
    unknown = set(names) - {"otlp", "console", "none", ""}
    if unknown:
        raise ConfigurationError(f"{variable}={os.environ[variable]!r}: use otlp, console or none")
    return [name for name in names if name not in ("none", "")]


def _protocol() -> str:
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc").strip().lower()
    if protocol not in ("grpc", "http/protobuf"):
        raise ConfigurationError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: use grpc or http/protobuf"
        )
    return protocol


#: Per signal: the console exporter, and the OTLP exporter's module and class (the same
#: names in the gRPC and the HTTP package).
_EXPORTERS: dict[str, tuple[type[Any], str, str]] = {
    "TRACES": (ConsoleSpanExporter, "trace_exporter", "OTLPSpanExporter"),
    "METRICS": (ConsoleMetricExporter, "metric_exporter", "OTLPMetricExporter"),
}


def _exporters(signal: str) -> list[Any]:
    console, module, name = _EXPORTERS[signal]
    return [
        console() if chosen == "console" else _otlp_exporter(module, name)
        for chosen in _exporter_names(signal)
    ]


def _otlp_exporter(module: str, name: str) -> Any:
    from importlib import import_module

    transport = "grpc" if _protocol() == "grpc" else "http"
    try:
        exporter_module = import_module(f"opentelemetry.exporter.otlp.proto.{transport}.{module}")
    except ModuleNotFoundError:
        raise ConfigurationError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={_protocol()} needs "
            f"pip install opentelemetry-exporter-otlp-proto-{transport}"
        ) from None
    return getattr(exporter_module, name)()

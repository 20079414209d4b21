"""Observability: OpenTelemetry spans and metrics, pool gauges, JSON logs, slow operations.

Importing it registers nothing. A service that wants operation spans and the
`db.client.operation.duration` histogram registers the hook once its SDK is set up:

    add_hook(OpenTelemetryHook())

(the example service does so in `telemetry.py`).
"""

from ..operations import (
    Hook,
    Observation,
    Operation,
    add_hook,
    observing,
    registered_hooks,
    remove_hook,
)
from .logs import JsonFormatter, SlowOperationHook, configure_json_logging
from .opentelemetry import OpenTelemetryHook
from .outbox import RelayMetrics
from .pool import PoolMetrics

__all__ = [
    "Hook",
    "JsonFormatter",
    "Observation",
    "OpenTelemetryHook",
    "Operation",
    "PoolMetrics",
    "RelayMetrics",
    "SlowOperationHook",
    "add_hook",
    "configure_json_logging",
    "observing",
    "registered_hooks",
    "remove_hook",
]

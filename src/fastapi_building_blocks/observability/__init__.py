"""Observability: hooks around operations, OpenTelemetry spans and metrics, JSON logs.

The OpenTelemetry hook is registered on import; it records nothing until the service
configures an OpenTelemetry SDK (see the example service's `telemetry.py`).
"""

from .hooks import Hook, Observation, Operation, add_hook, hooks, observing, remove_hook
from .logs import JsonFormatter, SlowOperationHook, configure_json_logging
from .opentelemetry import OpenTelemetryHook
from .pool import PoolMetrics

default_hook = OpenTelemetryHook()
add_hook(default_hook)

__all__ = [
    "Hook",
    "JsonFormatter",
    "Observation",
    "OpenTelemetryHook",
    "Operation",
    "PoolMetrics",
    "SlowOperationHook",
    "add_hook",
    "configure_json_logging",
    "default_hook",
    "hooks",
    "observing",
    "remove_hook",
]

"""Structured logs: one JSON object a line, with the current trace and span ids, and a
warning for operations slower than a threshold."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime

from opentelemetry import trace

from ..operations import Observation, Operation

slow_logger = logging.getLogger("fastapi_building_blocks.slow")


class JsonFormatter(logging.Formatter):
    """Log records as JSON, carrying `trace_id` / `span_id` when a span is current."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            entry["trace_id"] = f"{context.trace_id:032x}"
            entry["span_id"] = f"{context.span_id:016x}"
        for key in ("operation", "table", "duration_ms"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_json_logging(level: int | str = logging.INFO) -> None:
    """Send every log record to stderr as JSON (replacing the root logger's handlers)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class SlowOperationHook:
    """Logs a warning for every operation that takes longer than `threshold_seconds`."""

    def __init__(self, threshold_seconds: float) -> None:
        self.threshold_seconds = threshold_seconds

    def __call__(self, operation: Operation) -> _Timed:
        return _Timed(self.threshold_seconds, operation)


class _Timed:
    """One operation's clock. A class, not a generator: every operation runs it."""

    __slots__ = ("_operation", "_started", "_threshold")

    def __init__(self, threshold_seconds: float, operation: Operation) -> None:
        self._threshold, self._operation = threshold_seconds, operation

    def __enter__(self) -> Observation:
        self._started = time.perf_counter()
        return Observation()

    def __exit__(self, *exc_info: object) -> None:
        elapsed = time.perf_counter() - self._started
        if elapsed <= self._threshold:
            return
        operation = self._operation
        slow_logger.warning(
            "slow %s on %s: %.1f ms",
            operation.name,
            operation.table or operation.namespace,
            elapsed * 1000,
            extra={
                "operation": operation.name,
                "table": operation.table,
                "duration_ms": round(elapsed * 1000, 1),
            },
        )

"""Structured logs: one JSON object a line, with the current trace and span ids, and a
warning for operations slower than a threshold."""

from __future__ import annotations

import logging
import time
from typing import Any

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter as BaseJsonFormatter

from ..operations import Observation, Operation

slow_logger = logging.getLogger("fastapi_building_blocks.slow")


class JsonFormatter(BaseJsonFormatter):
    """Log records as JSON (python-json-logger), with `trace_id` / `span_id` when a span
    is current. Every `extra=` field of the call is kept, as the library does."""

    def __init__(self) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger", "exc_info": "exception"},
            timestamp="time",
            json_default=str,
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            log_data["trace_id"] = f"{context.trace_id:032x}"
            log_data["span_id"] = f"{context.span_id:016x}"


#: uvicorn's loggers: they keep handlers of their own unless told otherwise, and its
#: access lines would stay plain text beside the app's JSON.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def configure_json_logging(level: int | str = logging.INFO) -> None:
    """Send every log record to stderr as JSON (replacing the root logger's handlers),
    uvicorn's own (its access lines too) included."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True


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

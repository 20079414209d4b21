"""Service settings from the environment (or a .env file): DATABASE_URL switches databases.

The databases are the package's `DatabasesSettings`: DATABASE_URL (or DB_TYPE, DB_HOST,
...) is "default", DATABASES__<name>__URL names more, and each takes its options by name
(DATABASES__default__POOL_SIZE=20, DATABASES__default__STATEMENT_TIMEOUT=5). URLs and
passwords are secrets: never in a repr or a dump of the settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from fastapi_building_blocks.settings import DatabasesSettings


class Settings(DatabasesSettings):
    #: With nothing configured, an SQLite file beside the process.
    default_url: ClassVar[str | None] = "sqlite+aiosqlite:///./example.db"
    #: The other databases the service uses, where the environment names none for them.
    default_urls: ClassVar[Mapping[str, str]] = {
        "analytics": "sqlite+aiosqlite:///./example-analytics.db"
    }

    #: Run the outbox's relay in the service (users → analytics); off when the relay runs
    #: as a process of its own (`python -m example_service.relay`).
    run_relay: bool = True
    #: Request bodies above this many bytes are refused with 413.
    max_body_bytes: int = 1_048_576
    #: OpenTelemetry from the OTEL_* variables, and Prometheus metrics at /metrics.
    telemetry: bool = True
    #: Statement spans from OpenTelemetry's SQLAlchemy instrumentation. They carry the SQL
    #: text (placeholders, never values), so they are off unless enabled.
    statement_spans: bool = False
    #: One JSON object per log line, with trace_id / span_id.
    json_logs: bool = True
    #: Database operations slower than this are logged as warnings.
    slow_operation_seconds: float = 0.5

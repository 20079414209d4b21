"""Service settings from the environment (or a .env file): DATABASE_URL switches databases."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from fastapi_building_blocks.dialects import DEFAULT_ENGINE_OPTIONS
from fastapi_building_blocks.settings import DatabaseSettings


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    #: sqlite+aiosqlite, postgresql+asyncpg, mysql+aiomysql or mssql+aioodbc. A secret: its
    #: password never shows in a repr or a dump of the settings.
    database_url: SecretStr = SecretStr("sqlite+aiosqlite:///./example.db")
    database_pool_size: int = DEFAULT_ENGINE_OPTIONS.pool_size
    #: Seconds a statement may run, or wait for a lock, before the database cancels it.
    database_statement_timeout: float = 30.0
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

    def database(self) -> DatabaseSettings:
        return DatabaseSettings(
            url=self.database_url,
            pool_size=self.database_pool_size,
            statement_timeout=self.database_statement_timeout,
        )

"""Database settings as pydantic models, for a service's own pydantic-settings class.

    class Settings(BaseSettings):
        model_config = SettingsConfigDict(env_nested_delimiter="__")
        database: DatabaseSettings = DatabaseSettings()   # DATABASE__URL, DATABASE__POOL_SIZE

or flatten it: `database_url: SecretStr` and `DatabaseSettings(url=settings.database_url)`.
The URL is a `SecretStr`: its password never shows in a repr, a log line or a dump.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

from .database import SQLAlchemySession
from .database.session import CONNECT_TIMEOUT_SECONDS, PING_TIMEOUT_SECONDS
from .dialects import DEFAULT_ENGINE_OPTIONS as DEFAULTS


class DatabaseSettings(BaseModel):
    """One database: its URL and pool; everything else follows from the URL."""

    url: SecretStr = SecretStr("sqlite+aiosqlite:///./app.db")
    pool_size: int = Field(DEFAULTS.pool_size, ge=1)
    max_overflow: int = Field(DEFAULTS.max_overflow, ge=0)
    pool_timeout: float = Field(DEFAULTS.pool_timeout, gt=0)
    pool_recycle: int | None = DEFAULTS.pool_recycle
    pool_pre_ping: bool = DEFAULTS.pool_pre_ping
    #: Connections returned to the pool more recently than this are not pinged again.
    ping_after_idle_seconds: float = Field(0.5, ge=0)
    echo: bool = DEFAULTS.echo
    #: Seconds a statement may run, or wait for a lock, before the database cancels it.
    statement_timeout: float = Field(DEFAULTS.statement_timeout, gt=0)
    #: Seconds startup waits for the database to answer before giving up.
    connect_timeout: float = Field(CONNECT_TIMEOUT_SECONDS, ge=0)
    #: Seconds a health check waits for the database's answer.
    ping_timeout: float = Field(PING_TIMEOUT_SECONDS, gt=0)
    #: Hot statements straight through the driver (see `dialects.driver_path`).
    use_driver_path: bool = True

    def session(self) -> SQLAlchemySession:
        return SQLAlchemySession(
            self.url.get_secret_value(),
            pool_size=self.pool_size,
            max_overflow=self.max_overflow,
            pool_timeout=self.pool_timeout,
            pool_recycle=self.pool_recycle,
            pool_pre_ping=self.pool_pre_ping,
            ping_after_idle_seconds=self.ping_after_idle_seconds,
            echo=self.echo,
            statement_timeout=self.statement_timeout,
            connect_timeout=self.connect_timeout,
            ping_timeout=self.ping_timeout,
            use_driver_path=self.use_driver_path,
        )

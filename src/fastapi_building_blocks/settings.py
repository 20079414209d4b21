"""Database settings as pydantic models, for a service's own pydantic-settings class.

    class Settings(BaseSettings):
        model_config = SettingsConfigDict(env_nested_delimiter="__")
        database: DatabaseSettings = DatabaseSettings()   # DATABASE__URL, DATABASE__POOL_SIZE

or flatten it: `database_url: str` and `DatabaseSettings(url=settings.database_url)`.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from .database import SQLAlchemySession


class DatabaseSettings(BaseModel):
    """One database: its URL and pool; everything else follows from the URL."""

    url: str = "sqlite+aiosqlite:///./app.db"
    pool_size: int = Field(5, ge=1)
    max_overflow: int = Field(10, ge=0)
    pool_timeout: float = Field(30.0, gt=0)
    pool_recycle: int | None = None
    pool_pre_ping: bool = True
    #: Connections returned to the pool more recently than this are not pinged again.
    ping_after_idle_seconds: float = Field(0.5, ge=0)
    echo: bool = False
    connect_attempts: int = Field(5, ge=1)

    def session(self) -> SQLAlchemySession:
        return SQLAlchemySession(
            self.url,
            pool_size=self.pool_size,
            max_overflow=self.max_overflow,
            pool_timeout=self.pool_timeout,
            pool_recycle=self.pool_recycle,
            pool_pre_ping=self.pool_pre_ping,
            ping_after_idle_seconds=self.ping_after_idle_seconds,
            echo=self.echo,
            connect_attempts=self.connect_attempts,
        )

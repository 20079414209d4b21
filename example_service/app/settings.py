"""Service settings from the environment: change DATABASE_URL and nothing else to switch."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    #: sqlite+aiosqlite, postgresql+asyncpg, mysql+aiomysql or mssql+aioodbc.
    database_url: str = "sqlite+aiosqlite:///./example.db"

"""The service's own tests: on SQLite in a temporary folder, nothing to start first.

Point `DATABASE_URL`-style tests at PostgreSQL or MariaDB by changing `database_url`.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from alembic import command
from alembic.config import Config
from pydantic import SecretStr

from example_service.app.main import ALEMBIC_INI, create_app
from example_service.app.settings import Settings
from fastapi_building_blocks.migrations import KEEP_LOGGING
from fastapi_building_blocks.settings import NamedDatabaseSettings


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/service.db"


@pytest.fixture
def analytics_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/analytics.db"


def alembic_config(url: str, section: str = "alembic") -> Config:
    config = Config(str(ALEMBIC_INI), ini_section=section)
    config.cmd_opts = argparse.Namespace(x=[f"url={url}"])
    config.attributes[KEEP_LOGGING] = True
    return config


@pytest.fixture
async def migrated(database_url: str, analytics_url: str) -> str:
    """Both databases at their migrations' heads, as `make migrate` leaves them."""
    await asyncio.to_thread(command.upgrade, alembic_config(database_url), "head")
    await asyncio.to_thread(command.upgrade, alembic_config(analytics_url, "analytics"), "head")
    return database_url


@pytest.fixture
async def client(migrated: str, analytics_url: str) -> AsyncIterator[httpx.AsyncClient]:
    analytics = NamedDatabaseSettings(url=SecretStr(analytics_url))
    settings = Settings(
        database_url=SecretStr(migrated),
        databases={"analytics": analytics},
        telemetry=False,
        json_logs=False,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client

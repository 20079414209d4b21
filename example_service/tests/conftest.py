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

from example_service.app.main import ALEMBIC_INI, create_app
from example_service.app.settings import Settings
from fastapi_building_blocks.migrations import KEEP_LOGGING


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/service.db"


def alembic_config(url: str) -> Config:
    config = Config(str(ALEMBIC_INI))
    config.cmd_opts = argparse.Namespace(x=[f"url={url}"])
    config.attributes[KEEP_LOGGING] = True
    return config


@pytest.fixture
async def migrated(database_url: str) -> str:
    """The database at the migrations' head, as `make migrate` leaves it."""
    await asyncio.to_thread(command.upgrade, alembic_config(database_url), "head")
    return database_url


@pytest.fixture
async def client(migrated: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url=migrated, telemetry=False, json_logs=False))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client

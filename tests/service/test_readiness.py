"""Readiness says which database is behind its migrations, instead of a 500 per request."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from alembic import command

from example_service.app.main import create_app
from tests.backends import SQL_BACKENDS
from tests.service.conftest import alembic_config, migrate, newcomer_url, service_settings


async def readiness(url: str) -> httpx.Response:
    app = create_app(service_settings(url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/health/ready")


@pytest.mark.parametrize("backend", SQL_BACKENDS)
async def test_a_database_behind_its_migrations_is_not_ready(backend: str, tmp_path: Path) -> None:
    url = newcomer_url(backend, tmp_path)
    await migrate(url, "base")

    behind = await readiness(url)
    await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
    migrated = await readiness(url)

    assert behind.status_code == 503
    assert behind.headers["content-type"].startswith("application/problem+json")
    assert behind.json()["detail"] == (
        "default schema at revision none, migrations at 0006: migrate it"
    )
    assert migrated.status_code == 200
    assert migrated.json()["databases"]["default"]["status"] == "ok"

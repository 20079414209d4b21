from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.config import Config
from pydantic import SecretStr
from sqlalchemy import delete, make_url, text

from example_service.app.infrastructure.tables import analytics_schema, schema
from example_service.app.main import create_app
from example_service.app.settings import Settings
from fastapi_building_blocks import SQLAlchemySession
from fastapi_building_blocks.migrations import KEEP_LOGGING
from fastapi_building_blocks.settings import NamedDatabaseSettings
from tests.backends import SQL_BACKENDS
from tests.conftest import backend_url

ALEMBIC_INI = Path(__file__).parents[2] / "example_service" / "alembic.ini"


#: An empty database beside the test database (tests/servers/ensure.sh creates it), for
#: tests that need a database holding the service's tables only.
NEWCOMER_DATABASE = "fbb_newcomer"


def newcomer_url(backend: str, directory: Path) -> str:
    url = backend_url(backend, directory)
    if backend == "sqlite":
        return url
    return make_url(url).set(database=NEWCOMER_DATABASE).render_as_string(hide_password=False)


#: The example's second database on each server (tests/servers/ensure.sh creates it).
ANALYTICS_DATABASE = "fbb_analytics"


def alembic_config(url: str, section: str = "alembic") -> Config:
    config = Config(str(ALEMBIC_INI), ini_section=section)
    config.cmd_opts = argparse.Namespace(x=[f"url={url}"])
    config.attributes[KEEP_LOGGING] = True  # pytest's capture stays as it is
    return config


def analytics_url_for(url: str) -> str:
    """The example's "analytics" database beside the default one at `url`: a file in the
    same folder for SQLite, a database of its own on the same server otherwise."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database is not None
        return parsed.set(
            database=str(Path(parsed.database).with_name("analytics.db"))
        ).render_as_string()
    return parsed.set(database=ANALYTICS_DATABASE).render_as_string(hide_password=False)


def service_settings(url: str, analytics_url: str | None = None, **options: Any) -> Settings:
    """The example's settings for tests: the default database at `url`, analytics beside it."""
    analytics = NamedDatabaseSettings(url=SecretStr(analytics_url or analytics_url_for(url)))
    options.setdefault("telemetry", False)
    options.setdefault("json_logs", False)
    return Settings(database_url=SecretStr(url), databases={"analytics": analytics}, **options)


async def migrate(url: str, revision: str = "head", analytics_url: str | None = None) -> None:
    """From an empty schema to `revision` ("base": stay empty), as on a new database; the
    analytics database beside it to its head.

    The migrations' env uses asyncio.run, so Alembic gets a thread of its own.
    """
    analytics = alembic_config(analytics_url or analytics_url_for(url), "analytics")
    await asyncio.to_thread(command.upgrade, analytics, "head")
    session = SQLAlchemySession(url)
    async with session.transaction() as connection:
        await connection.run_sync(schema.drop_all)
        await connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    await session.disconnect()
    if revision != "base":
        await asyncio.to_thread(command.upgrade, alembic_config(url), revision)


@pytest.fixture(scope="session", params=SQL_BACKENDS)
async def service_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> str:
    url = backend_url(request.param, tmp_path_factory.mktemp("service"))
    await migrate(url)
    return url


async def empty_tables(service_url: str) -> None:
    """Every table of the service's two databases emptied, as a test starts."""
    for url, tables in ((service_url, schema), (analytics_url_for(service_url), analytics_schema)):
        session = SQLAlchemySession(url)
        async with session.transaction() as connection:
            for table in reversed(tables.sorted_tables):
                await connection.execute(delete(table))
        await session.disconnect()


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the example app built from `settings`, its lifespan running."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


@pytest.fixture
async def client(service_url: str) -> AsyncIterator[httpx.AsyncClient]:
    await empty_tables(service_url)
    async with serving(service_settings(service_url)) as client:
        yield client

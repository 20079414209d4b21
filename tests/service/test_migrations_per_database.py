"""One command migrates every database the service has migrations for, each its own way."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect

from fastapi_building_blocks import SQLAlchemySession
from fastapi_building_blocks.migrations import head_revisions
from tests.backends import sqlite_url
from tests.service.conftest import ALEMBIC_INI, newcomer_url
from tests.system.service_process import ROOT

ANALYTICS_ENV = """
from alembic import context
from sqlalchemy import Column, Integer, String, Table

from example_service.app.infrastructure.tables import schema
from example_service.app.settings import Settings
from fastapi_building_blocks import metadata
from fastapi_building_blocks.migrations import run_migrations

analytics = metadata()
Table("events", analytics, Column("id", Integer, primary_key=True), Column("name", String(50)))
run_migrations(context, Settings(), {"default": schema, "analytics": analytics})
"""
ANALYTICS_REVISION = """
import sqlalchemy as sa
from alembic import op

revision = "a001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events", sa.Column("id", sa.Integer(), primary_key=True), sa.Column("name", sa.String(50))
    )


def downgrade() -> None:
    op.drop_table("events")
"""


@pytest.fixture
def service_migrations(tmp_path: Path) -> Path:
    """The example's migrations for "default", and an "analytics" database's of its own."""
    shutil.copytree(ALEMBIC_INI.parent / "migrations", tmp_path / "migrations")
    analytics = tmp_path / "analytics_migrations"
    (analytics / "versions").mkdir(parents=True)
    (analytics / "env.py").write_text(ANALYTICS_ENV)
    shutil.copy(ALEMBIC_INI.parent / "migrations" / "script.py.mako", analytics)
    (analytics / "versions" / "a001_events.py").write_text(ANALYTICS_REVISION)
    ini = tmp_path / "alembic.ini"
    ini.write_text(
        ALEMBIC_INI.read_text().replace("%(here)s/..", str(ROOT))
        + f"\n[analytics]\nscript_location = {analytics}\nprepend_sys_path = {ROOT}\n"
        "path_separator = os\n"
    )
    return ini


async def tables(url: str) -> set[str]:
    session = SQLAlchemySession(url)
    async with session.engine.connect() as connection:
        names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    await session.disconnect()
    return set(names)


async def emptied(url: str) -> str:
    session = SQLAlchemySession(url)
    async with session.transaction() as connection:
        for table in ("events", "alembic_version"):
            await connection.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
    await session.disconnect()
    return url


def migrate(ini: Path, **environment: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "DB_"))}
    return subprocess.run(
        [sys.executable, "-m", "fastapi_building_blocks", "migrate", str(ini)],
        env={**clean, **environment}, capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip


def test_every_configured_database_is_upgraded_by_one_command(
    service_migrations: Path, tmp_path: Path
) -> None:
    default = sqlite_url(tmp_path)
    analytics = asyncio.run(emptied(newcomer_url("postgresql", tmp_path)))

    done = migrate(service_migrations, DATABASE_URL=default, DATABASES__ANALYTICS__URL=analytics)

    assert done.returncode == 0, done.stderr
    assert {"users", "posts"} <= asyncio.run(tables(default))
    assert "events" in asyncio.run(tables(analytics))
    assert "Running upgrade  -> a001" in done.stderr
    assert head_revisions(service_migrations) == {"default": "0001", "analytics": "a001"}


def test_a_database_that_is_not_configured_is_skipped_and_said_so(
    service_migrations: Path, tmp_path: Path
) -> None:
    default = sqlite_url(tmp_path)

    done = migrate(service_migrations, DATABASE_URL=default)

    assert done.returncode == 0, done.stderr
    assert "'analytics' is not configured" in done.stderr
    assert {"users", "posts"} <= asyncio.run(tables(default))

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

#: A third database, "reports", that the service has migrations for but no default URL.
REPORTS_ENV = """
from alembic import context
from sqlalchemy import Column, Integer, String, Table

from example_service.app.settings import Settings
from fastapi_building_blocks import metadata
from fastapi_building_blocks.migrations import run_migrations

reports = metadata()
Table("events", reports, Column("id", Integer, primary_key=True), Column("name", String(50)))
run_migrations(context, Settings(), {"reports": reports})
"""
REPORTS_REVISION = """
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
    """The example's migrations ("default" and "analytics"), and a "reports" database's."""
    for folder in ("migrations", "analytics_migrations"):
        shutil.copytree(ALEMBIC_INI.parent / folder, tmp_path / folder)
    reports = tmp_path / "reports_migrations"
    (reports / "versions").mkdir(parents=True)
    (reports / "env.py").write_text(REPORTS_ENV)
    shutil.copy(ALEMBIC_INI.parent / "migrations" / "script.py.mako", reports)
    (reports / "versions" / "a001_events.py").write_text(REPORTS_REVISION)
    ini = tmp_path / "alembic.ini"
    ini.write_text(
        ALEMBIC_INI.read_text().replace("%(here)s/..", str(ROOT))
        + f"\n[reports]\nscript_location = {reports}\nprepend_sys_path = {ROOT}\n"
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
        for table in ("events", "page_views", "user_projections", "inbox", "alembic_version"):
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
    reports = f"sqlite+aiosqlite:///{tmp_path / 'reports.db'}"

    done = migrate(
        service_migrations, DATABASE_URL=default, DATABASES__ANALYTICS__URL=analytics,
        DATABASES__REPORTS__URL=reports,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert {"users", "posts"} <= asyncio.run(tables(default))
    assert "page_views" in asyncio.run(tables(analytics))
    assert "events" in asyncio.run(tables(reports))
    assert "Running upgrade  -> a0001" in done.stderr
    assert "Running upgrade 0001 -> 0002" in done.stderr
    assert head_revisions(service_migrations) == {
        "default": "0006", "analytics": "a0002", "reports": "a001",
    }  # fmt: skip


def test_a_database_that_is_not_configured_is_skipped_and_said_so(
    service_migrations: Path, tmp_path: Path
) -> None:
    default = sqlite_url(tmp_path)
    analytics = f"sqlite+aiosqlite:///{tmp_path / 'analytics.db'}"

    done = migrate(service_migrations, DATABASE_URL=default, DATABASES__ANALYTICS__URL=analytics)

    assert done.returncode == 0, done.stderr
    assert "'reports' is not configured" in done.stderr
    assert {"users", "posts"} <= asyncio.run(tables(default))

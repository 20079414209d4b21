"""The service's migrations: the same files on every backend, in step with the tables."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from example_service.app.infrastructure.tables import schema
from fastapi_building_blocks import SQLAlchemySession
from tests.service.conftest import ALEMBIC_INI, alembic_config, empty_tables

INIT_SQL = Path(__file__).parents[2] / "init.sql"
#: The test databases also hold the contract suite's tables: compare only the service's.
OURS = {"include_name": lambda name, kind, _parent: kind != "table" or name in schema.tables}


def offline_sql(url: str) -> str:
    output = io.StringIO()
    config = Config(str(ALEMBIC_INI), output_buffer=output)
    config.cmd_opts = alembic_config(url).cmd_opts
    command.upgrade(config, "head", sql=True)
    return output.getvalue()


async def test_the_migrated_schema_matches_the_table_definitions(service_url: str) -> None:
    session = SQLAlchemySession(service_url)
    async with session.engine.connect() as connection:
        differences = await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync, opts=OURS), schema)
        )
    await session.disconnect()

    assert differences == []


async def test_migrations_go_down_to_nothing_and_up_again(service_url: str) -> None:
    # Empty: going down past 0005 on MySQL refuses a post longer than TEXT holds.
    await empty_tables(service_url)
    config = alembic_config(service_url)
    session = SQLAlchemySession(service_url)

    await asyncio.to_thread(command.downgrade, config, "base")
    async with session.engine.connect() as connection:
        remaining = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    await asyncio.to_thread(command.upgrade, config, "head")
    await session.disconnect()

    assert not {"users", "posts"} & set(remaining)


def test_init_sql_is_what_the_migrations_generate_for_postgresql() -> None:
    # Regenerate with `make init-sql` after adding a migration.
    assert INIT_SQL.read_text() == offline_sql("postgresql://")


def test_the_migrations_emit_sql_server_ddl_offline() -> None:
    ddl = offline_sql("mssql://")

    assert "id UNIQUEIDENTIFIER NOT NULL" in ddl
    assert "first_name NVARCHAR(100) NOT NULL" in ddl
    assert "content NVARCHAR(max) NOT NULL" in ddl
    assert "created_at DATETIMEOFFSET NOT NULL" in ddl
    assert "CONSTRAINT uq_users_email UNIQUE (email)" in ddl
    assert "FOREIGN KEY(author_id) REFERENCES users (id)" in ddl

"""Alembic environment: online through the package's SQLAlchemySession, offline as SQL text."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from example_service.app.infrastructure.tables import schema
from example_service.app.settings import Settings
from fastapi_building_blocks import SQLAlchemySession
from fastapi_building_blocks.migrations import (
    configure_logging,
    process_revision_directives,
    render_item,
)
from fastapi_building_blocks.settings import DEFAULT

MIGRATION_TIMEOUT_SECONDS = 3600.0


def database_url() -> str:
    given = context.get_x_argument(as_dictionary=True).get("url")
    if given:
        return given
    default = Settings().databases[DEFAULT].url
    assert default is not None  # the settings refuse a database without one
    return default.get_secret_value()


def run_offline() -> None:
    """Emit SQL for `--sql` (init.sql, SQL Server DDL review); no connection is made."""
    url = database_url()
    # Without a server to ask, SQLAlchemy would assume SQL Server before 2012 (NTEXT).
    options = {"deprecate_large_types": True} if url.startswith("mssql") else {}
    context.configure(
        url=url,
        target_metadata=schema,
        literal_binds=True,
        dialect_opts=options,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=schema,
        render_item=render_item,
        process_revision_directives=process_revision_directives,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    # A migration may rewrite a large table: the service's statement timeout is not its.
    session = SQLAlchemySession(database_url(), statement_timeout=MIGRATION_TIMEOUT_SECONDS)
    try:
        await session.connect()
        async with session.engine.connect() as connection:
            await connection.run_sync(migrate)
            await connection.commit()
    finally:
        await session.disconnect()


configure_logging(context.config)
if context.is_offline_mode():
    run_offline()
else:
    asyncio.run(run_online())

"""The migrations create exactly the tables `infrastructure/tables.py` defines.

Fails after a table change without a migration: `make revision MESSAGE="..."` writes it.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData

from example_service.app.infrastructure.tables import analytics_schema, schema
from fastapi_building_blocks import SQLAlchemySession


async def differences(url: str, tables: MetaData) -> list[object]:
    session = SQLAlchemySession(url)
    async with session.engine.connect() as connection:
        found = await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), tables)
        )
    await session.disconnect()
    return list(found)


async def test_the_migrated_schema_matches_the_tables(migrated: str) -> None:
    assert await differences(migrated, schema) == []


async def test_the_analytics_database_has_its_own_tables(migrated: str, analytics_url: str) -> None:
    assert await differences(analytics_url, analytics_schema) == []

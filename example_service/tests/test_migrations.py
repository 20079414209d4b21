"""The migrations create exactly the tables `infrastructure/tables.py` defines.

Fails after a table change without a migration: `make revision MESSAGE="..."` writes it.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from example_service.app.infrastructure.tables import schema
from fastapi_building_blocks import SQLAlchemySession


async def test_the_migrated_schema_matches_the_tables(migrated: str) -> None:
    session = SQLAlchemySession(migrated)
    async with session.engine.connect() as connection:
        differences = await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), schema)
        )
    await session.disconnect()

    assert differences == []

"""Alembic environment: the package runs it (`fastapi_building_blocks.migrations`).

Online through the package's SQLAlchemySession, offline (`--sql`) as SQL text. This
directory is the "default" database's; the "analytics" database's migrations have a
section of their own in alembic.ini (`[analytics]`, `script_location =
analytics_migrations`) with this same env.py, and `make migrate` upgrades them all.
"""

from __future__ import annotations

from alembic import context

from example_service.app.infrastructure.tables import analytics_schema, schema
from example_service.app.settings import Settings
from fastapi_building_blocks.migrations import run_migrations

run_migrations(context, Settings(), {"default": schema, "analytics": analytics_schema})

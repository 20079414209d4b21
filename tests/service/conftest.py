from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete

from example_service.app.infrastructure.tables import schema
from example_service.app.main import create_app
from example_service.app.settings import Settings
from tests.backends import SQL_BACKENDS
from tests.conftest import backend_url


@pytest.fixture(params=SQL_BACKENDS)
async def client(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url=backend_url(request.param, tmp_path)))
    async with app.router.lifespan_context(app):
        async with app.state.database.transaction() as connection:
            for table in reversed(schema.sorted_tables):
                await connection.execute(delete(table))
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client

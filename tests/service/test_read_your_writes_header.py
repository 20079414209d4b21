"""A client reads its own writes on its next request: the Read-Your-Writes header.

The example service on PostgreSQL with the replica that applies changes 2 s late
(tests/servers/ensure.sh): a request without the header reads that replica.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import text

from example_service.app.main import create_app
from fastapi_building_blocks import SQLAlchemySession
from tests.backends import POSTGRESQL_URL
from tests.servers.replicas import POSTGRESQL
from tests.service.conftest import migrate, service_settings

NEW_USER = {"first_name": "Ada", "last_name": "L", "email": "ada@example.com", "username": "ada"}


async def delayed_replica_caught_up() -> None:
    """Everything the primary has now (the migration just run), on the replica that
    applies it 2 s late."""
    primary = SQLAlchemySession(POSTGRESQL_URL)
    async with primary.connection() as connection:
        position = (await connection.execute(text("SELECT pg_current_wal_lsn()::text"))).scalar()
    await primary.disconnect()
    replayed = text("SELECT pg_last_wal_replay_lsn() >= CAST(CAST(:position AS TEXT) AS pg_lsn)")
    replica = SQLAlchemySession(POSTGRESQL.delayed_url)
    try:
        for _ in range(100):
            async with replica.connection() as connection:
                if (await connection.execute(replayed, {"position": str(position)})).scalar():
                    return
            await asyncio.sleep(0.1)
    finally:
        await replica.disconnect()
    raise AssertionError("the delayed replica never caught up")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    await migrate(POSTGRESQL_URL)
    await delayed_replica_caught_up()
    settings = service_settings(POSTGRESQL_URL)
    default = settings.databases["default"]
    default.replica_urls = [SecretStr(POSTGRESQL.delayed_url)]
    # PostgreSQL's lag counts from the last transaction the replica applied: after a quiet
    # spell, the delayed replica would look further behind than any bound.
    default.max_replica_lag = 3600
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def test_the_token_a_write_hands_back_makes_the_next_request_read_it(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post("/api/v1/users/", json=NEW_USER)
    token = created.headers["Read-Your-Writes"]

    with_token = await client.get(created.headers["Location"], headers={"Read-Your-Writes": token})
    without = await client.get(created.headers["Location"])
    forged = await client.get(created.headers["Location"], headers={"Read-Your-Writes": "x" * 99})

    assert created.status_code == 201
    assert with_token.status_code == 200
    assert without.status_code == 404  # the delayed replica has not applied it yet
    assert forged.status_code == 404  # a token that says nothing is ignored
    assert "Read-Your-Writes" not in without.headers  # a request that wrote nothing

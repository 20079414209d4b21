"""The relay as a process of its own, killed with SIGKILL mid-batch and started again,
while a writer creates and updates users: afterwards every committed change is in the
analytics projection, once. Counted in both databases, on each backend."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from example_service.app.domain.user import User
from example_service.app.infrastructure.repositories import UserRepository
from example_service.app.infrastructure.tables import inbox, outbox, user_projections, users
from fastapi_building_blocks import SQLAlchemySession, UnitOfWork
from fastapi_building_blocks.outbox import State
from tests.backends import SQL_BACKENDS
from tests.conftest import backend_url
from tests.service.conftest import analytics_url_for, migrate
from tests.system.service_process import ROOT

KILLS = 5
USERS = 60


def start_relay(default: str, analytics: str, log: Path) -> subprocess.Popen[bytes]:
    environment = {**os.environ, "DATABASE_URL": default, "DATABASES__analytics__URL": analytics,
                   "JSON_LOGS": "false"}  # fmt: skip
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "example_service.relay"], cwd=ROOT, env=environment,
            stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip


async def write_users(session: SQLAlchemySession, stop: asyncio.Event) -> int:
    """Create users, then keep renaming them, each change in a unit of work of its own."""
    keys: list[uuid.UUID] = []
    changes = 0
    while not stop.is_set() or len(keys) < USERS:
        async with UnitOfWork(session) as uow:
            repository = UserRepository(uow)
            if len(keys) < USERS:
                number = len(keys)
                user = await repository.create(User("First", "Last", f"u{number}@example.com",
                                                    f"user{number}"))  # fmt: skip
                keys.append(user.id)
            else:
                key = keys[changes % USERS]
                await repository.update_fields(key, {"first_name": f"Renamed{changes}"})
            await uow.commit()
        changes += 1
        await asyncio.sleep(0)
    return changes


async def counts(default: SQLAlchemySession, analytics: SQLAlchemySession) -> dict[str, object]:
    async with default.connection() as connection:
        source = dict((await connection.execute(select(users.c.id, users.c.version))).all())
        states: dict[str, int] = dict((await connection.execute(
            select(outbox.c.state, func.count()).group_by(outbox.c.state)
        )).all())  # fmt: skip
    async with analytics.connection() as connection:
        projected = dict((await connection.execute(
            select(user_projections.c.id, user_projections.c.source_version)
        )).all())  # fmt: skip
        received = (await connection.execute(select(func.count()).select_from(inbox))).scalar()
    return {"source": source, "states": states, "projected": projected, "received": received}


@pytest.mark.parametrize("backend", SQL_BACKENDS)
async def test_a_relay_killed_mid_batch_loses_nothing_and_applies_nothing_twice(
    backend: str, tmp_path: Path
) -> None:
    default_url = backend_url(backend, tmp_path)
    analytics_url = analytics_url_for(default_url)
    await migrate(default_url)
    default, analytics = SQLAlchemySession(default_url), SQLAlchemySession(analytics_url)
    for session, tables in ((analytics, (user_projections, inbox)),):
        async with session.transaction() as connection:
            for table in tables:
                await connection.execute(table.delete())
    log = tmp_path / "relay.log"
    relay = start_relay(default_url, analytics_url, log)
    stop = asyncio.Event()
    writer = asyncio.create_task(write_users(default, stop))
    try:
        for _ in range(KILLS):
            await asyncio.sleep(1.5)  # started, and busy with the writer's changes
            relay.send_signal(signal.SIGKILL)
            relay.wait()
            relay = start_relay(default_url, analytics_url, log)
        stop.set()
        changes = await writer
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = await counts(default, analytics)
            if not found["states"].get(State.PENDING.value):  # type: ignore[attr-defined]
                break
            await asyncio.sleep(0.2)
    finally:
        relay.send_signal(signal.SIGTERM)
        relay.wait(timeout=30)
        await default.disconnect()
        await analytics.disconnect()

    assert relay.returncode == 0, log.read_text()[-3000:]  # SIGTERM: a clean stop
    assert found["states"] == {State.DELIVERED.value: changes}, log.read_text()[-3000:]
    assert found["received"] == changes  # each message applied once: one inbox row each
    assert found["projected"] == found["source"]  # every user, at its latest version

"""Faults injected into real servers of their own (tests/servers/disposable.py), under the
example service: killed connections, a lock held past the statement timeout, the server
stopped and started. Each bounded to a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import func, select

from example_service.app.infrastructure.tables import posts, users
from example_service.app.main import create_app
from fastapi_building_blocks import SQLAlchemySession
from tests.servers.disposable import DisposableMariaDB, DisposablePostgres
from tests.service.conftest import migrate, service_settings
from tests.service.test_users_api import USERS, person

STATEMENT_TIMEOUT = 1.0
#: Far past any timeout under test: reached only by a request that hangs or a service
#: that never comes back.
HANG_GUARD_SECONDS = 30


@dataclass(frozen=True)
class Server:
    name: str
    instance: DisposablePostgres | DisposableMariaDB
    #: Every connection of the service's database except the caller's own.
    others: str
    kill: str


@pytest.fixture(scope="module", params=["postgresql", "mariadb"])
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    if request.param == "postgresql":
        instance: DisposablePostgres | DisposableMariaDB = DisposablePostgres()
        others = (
            "SELECT pid FROM pg_stat_activity WHERE datname = 'fbb' "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
        kill = "SELECT pg_terminate_backend({})"
    else:
        instance = DisposableMariaDB()
        others = (
            "SELECT id FROM information_schema.processlist "
            "WHERE db = 'fbb' AND user = 'fbb' AND id <> connection_id()"
        )
        kill = "KILL {}"
    instance.start()
    try:
        yield Server(request.param, instance, others, kill)
    finally:
        instance.remove()


@asynccontextmanager
async def service(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    # The faults are the default database's; analytics stays an SQLite file beside.
    analytics = f"sqlite+aiosqlite:///{server.instance.directory / 'analytics.db'}"
    await migrate(server.instance.url, analytics_url=analytics)
    settings = service_settings(server.instance.url, analytics)
    settings.databases["default"].statement_timeout = STATEMENT_TIMEOUT
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def kill_others(killer: SQLAlchemySession, server: Server) -> int:
    async with killer.connection() as connection:
        victims = (await connection.exec_driver_sql(server.others)).scalars().all()
        for victim in victims:
            with contextlib.suppress(Exception):  # it ended on its own meanwhile
                await connection.exec_driver_sql(server.kill.format(victim))
    return len(victims)


async def stored_usernames(url: str) -> tuple[set[str], int]:
    """Usernames stored, and how many users lack their welcome post (a partial write)."""
    session = SQLAlchemySession(url)
    try:
        async with session.connection() as connection:
            names = set((await connection.execute(select(users.c.username))).scalars())
            orphans = (
                await connection.execute(
                    select(func.count())
                    .select_from(users)
                    .where(~select(posts.c.id).where(posts.c.author_id == users.c.id).exists())
                )
            ).scalar_one()
        return names, orphans
    finally:
        await session.disconnect()


async def test_killed_connections_during_a_burst_lose_nothing_and_misreport_nothing(
    server: Server,
) -> None:
    outcomes: list[tuple[str, int, str | None]] = []
    async with service(server) as client:
        killer = SQLAlchemySession(server.instance.url, pool_size=1)
        stop = asyncio.Event()
        kills = 0

        async def keep_killing() -> None:
            nonlocal kills
            while not stop.is_set():
                kills += await kill_others(killer, server)
                await asyncio.sleep(0.02)

        async def register(number: int) -> None:
            body = person(number)
            response = await client.post(f"{USERS}with-welcome-post", json=body)
            error = response.json().get("error") if response.status_code >= 400 else None
            outcomes.append((body["username"], response.status_code, error))

        killing = asyncio.create_task(keep_killing())
        for start in range(0, 200, 10):
            await asyncio.gather(*(register(n) for n in range(start, start + 10)))
        stop.set()
        await killing
        await killer.disconnect()

    stored, orphans = await stored_usernames(server.instance.url)
    statuses = {status for _, status, _ in outcomes}
    reported_failed_but_stored = [
        name
        for name, status, error in outcomes
        if status >= 400 and error != "CommitOutcomeUnknownError" and name in stored
    ]
    created_but_missing = [
        name for name, status, _ in outcomes if status == 201 and name not in stored
    ]
    assert kills > 0
    assert orphans == 0
    assert reported_failed_but_stored == []
    assert created_but_missing == []
    assert statuses <= {201, 503}, outcomes
    assert 503 in statuses  # the kills did hit requests


async def test_a_lock_held_past_the_statement_timeout_fails_the_request_while_still_held(
    server: Server,
) -> None:
    """Nothing here releases the lock before the response: a request that waited for it
    would wait forever (neither server bounds a lock wait by default), so the guard below
    ends the test instead of hanging it. The 504 comes from the server's own timeout."""
    lock = (
        ["BEGIN", "LOCK TABLE users IN ACCESS EXCLUSIVE MODE"]
        if server.name == "postgresql"
        else ["LOCK TABLES users WRITE"]
    )
    async with service(server) as client:
        holder = SQLAlchemySession(server.instance.url)
        async with holder.engine.connect() as connection:
            for statement in lock:
                await connection.exec_driver_sql(statement)
            response = await asyncio.wait_for(client.get(USERS), HANG_GUARD_SECONDS)
            await connection.rollback()
            if server.name == "mariadb":
                await connection.exec_driver_sql("UNLOCK TABLES")
        await holder.disconnect()

    assert response.status_code == 504
    assert response.json()["error"] == "StatementTimeoutError"


async def first_2xx(client: httpx.AsyncClient) -> httpx.Response | None:
    """The first list of users answered 200 within the hang guard, None if none was."""
    back_at = time.monotonic()
    while time.monotonic() - back_at < HANG_GUARD_SECONDS:
        response = await client.get(USERS)
        if response.status_code == 200:
            return response
        await asyncio.sleep(0.05)
    return None


async def test_a_server_stopped_and_started_is_503_meanwhile_then_2xx_without_a_restart(
    server: Server,
) -> None:
    async with service(server) as client:
        assert (await client.get(USERS)).status_code == 200
        server.instance.stop()
        try:
            during: list[httpx.Response] = [await client.get(USERS) for _ in range(3)]
            ready = await client.get("/health/ready")
        finally:
            server.instance.start()
        recovered = await first_2xx(client)

    assert [response.status_code for response in during] == [503, 503, 503]
    assert all(response.headers["retry-after"] for response in during)
    assert ready.status_code == 503
    assert ready.json()["databases"]["default"] == {"status": "unavailable"}
    assert ready.json()["databases"]["analytics"]["status"] == "ok"  # says which one failed
    assert recovered is not None, f"no 2xx within {HANG_GUARD_SECONDS} s of the server's return"


async def test_a_server_that_stops_answering_is_503_or_504_within_the_bound_then_2xx(
    server: Server,
) -> None:
    """Frozen (SIGSTOP): the server keeps its TCP sessions and takes new ones, but never
    answers, so its own statement timeout cannot fire. Every request still ends, each
    wait bounded by the client a second past the statement timeout: a read, a write, a
    read that needs a new connection, readiness. None is stored; once the server runs
    again the service answers without a restart."""
    async with service(server) as client:
        author = await client.post(USERS, json=person(1))
        assert author.status_code == 201
        server.instance.freeze()
        try:
            during = [
                await asyncio.wait_for(request, HANG_GUARD_SECONDS)
                for request in (
                    client.get(USERS),
                    client.post(USERS, json=person(2)),
                    client.get(USERS),
                    client.get("/health/ready"),
                )
            ]
        finally:
            server.instance.thaw()
        recovered = await first_2xx(client)

    assert [response.status_code in (503, 504) for response in during] == [True] * 4, [
        (response.status_code, response.text[:200]) for response in during
    ]
    assert all(response.headers["content-type"].startswith("application/problem+json")
               for response in during)  # fmt: skip
    assert recovered is not None, f"no 2xx within {HANG_GUARD_SECONDS} s of the thaw"
    assert [user["username"] for user in recovered.json()["items"]] == ["user001"]

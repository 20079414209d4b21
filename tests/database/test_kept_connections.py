"""Connections kept between single-statement calls (database/kept.py): the next call
takes the last one's connection instead of the pool's, never one less clean or older
than the pool would give, and never at the cost of a caller who needs the pool."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, event, select

from fastapi_building_blocks import DatabaseUnavailableError, SQLAlchemySession, UnitOfWork
from tests.backends import MARIADB_URL, POSTGRESQL_URL, sqlite_url
from tests.database.test_session import LOST_CONNECTION
from tests.schema import Parent, SQLParents, key_of, schema

URLS = {"postgresql": POSTGRESQL_URL, "mariadb": MARIADB_URL}


@pytest.fixture(params=["postgresql", "mariadb", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return URLS.get(request.param) or sqlite_url(tmp_path)


@pytest.fixture
async def session(url: str) -> AsyncIterator[SQLAlchemySession]:
    async with opened(url) as session:
        yield session


@asynccontextmanager
async def opened(url: str, **options: Any) -> AsyncIterator[SQLAlchemySession]:
    """A session on `url` with the test tables, empty."""
    session = SQLAlchemySession(url, **options)
    async with session.transaction() as connection:
        await connection.run_sync(schema.create_all)
        for table in reversed(schema.sorted_tables):
            await connection.execute(delete(table))
    try:
        yield session
    finally:
        await session.disconnect()


def count_checkouts(session: SQLAlchemySession) -> list[int]:
    """How often the pool hands out a connection from now on (one-item list)."""
    checkouts = [0]

    @event.listens_for(session.engine.sync_engine, "checkout")
    def checked_out(*_: object) -> None:
        checkouts[0] += 1

    return checkouts


async def test_single_statement_calls_in_a_row_take_the_pool_once(
    session: SQLAlchemySession,
) -> None:
    parents = SQLParents(session)
    created = await parents.create(Parent(label="one"))
    checkouts = count_checkouts(session)

    for _ in range(20):
        assert await parents.get_by_id(key_of(created)) == created
    await parents.update(created)

    assert checkouts == [0]  # the create's connection served them all
    assert session.kept_connections == 1


async def test_a_connection_goes_back_to_the_pool_when_its_window_ends(url: str) -> None:
    async with opened(url, ping_after_idle_seconds=0.2) as session:
        parents = SQLParents(session)
        await parents.count()
        checkouts = count_checkouts(session)

        await asyncio.sleep(0.3)
        assert session.kept_connections == 0  # returned by the window's timer, unasked
        assert session.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        await parents.count()

        assert checkouts == [1]  # from the pool again, pinged as any connection idle that long


async def test_the_pools_last_connection_is_not_kept(url: str) -> None:
    """Whoever asks the pool next, even behind the session's back, gets it at once."""
    async with opened(url, pool_size=1, max_overflow=0, pool_timeout=1) as session:
        await SQLParents(session).count()

        assert session.kept_connections == 0
        async with session.engine.connect() as connection:
            await connection.execute(select(1))


async def test_a_caller_behind_the_sessions_back_waits_at_most_the_window(url: str) -> None:
    """Code that takes connections from `session.engine` is not seen by the session: a
    full pool makes it wait until the window returns the kept connection (0.5 s), well
    within its pool timeout."""
    async with opened(url, pool_size=2, max_overflow=0, pool_timeout=2) as session:
        await SQLParents(session).count()
        assert session.kept_connections == 1  # the pool had room for one more caller
        async with session.engine.connect(), session.engine.connect():
            assert session.kept_connections == 0


async def test_no_window_keeps_nothing(url: str) -> None:
    async with opened(url, ping_after_idle_seconds=0) as session:
        await SQLParents(session).count()

        assert session.kept_connections == 0
        assert session.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_connection_with_a_transaction_begun_is_not_kept(
    session: SQLAlchemySession,
) -> None:
    """SQLAlchemy's own statements begin a transaction on the connection (autobegin):
    such a connection goes back to the pool, which ends it."""
    async with session.connection() as connection:
        await connection.execute(select(1))

    assert session.kept_connections == 0


async def test_a_connection_with_options_of_its_own_is_not_kept(
    session: SQLAlchemySession,
) -> None:
    async with session.connection() as connection:
        await connection.execution_options(logging_token="mine")

    assert session.kept_connections == 0


async def test_a_call_that_failed_does_not_keep_its_connection(
    session: SQLAlchemySession,
) -> None:
    with pytest.raises(RuntimeError):
        async with session.connection():
            raise RuntimeError("the caller's own failure")

    assert session.kept_connections == 0


async def test_at_most_the_pools_size_is_kept_and_nothing_is_lost(url: str) -> None:
    async with opened(url, pool_size=3, max_overflow=5) as session:
        parents = SQLParents(session)
        await asyncio.gather(*(parents.count() for _ in range(30)))

        assert 1 <= session.kept_connections <= 3
        assert session.engine.pool.checkedout() == session.kept_connections  # type: ignore[attr-defined]

    assert session.engine.pool.checkedout() == 0  # type: ignore[attr-defined]  # disconnect


async def test_callers_waiting_for_the_pool_get_the_connections_of_finished_calls(
    url: str,
) -> None:
    # A window longer than the pool's timeout: only handing over in time serves them.
    async with opened(
        url, pool_size=2, max_overflow=0, pool_timeout=2, ping_after_idle_seconds=30
    ) as session:
        parents = SQLParents(session)

        counts = await asyncio.gather(*(parents.count() for _ in range(20)))

        assert counts == [0] * 20  # none timed out waiting behind a kept connection


@pytest.mark.parametrize("url", [POSTGRESQL_URL, MARIADB_URL], ids=["postgresql", "mariadb"])
async def test_a_unit_of_work_gets_the_kept_connection_when_the_pool_has_no_other(
    url: str,
) -> None:
    async with opened(  # a window longer than the pool's timeout, as above
        url, pool_size=2, max_overflow=0, pool_timeout=2, ping_after_idle_seconds=30
    ) as session:
        parents = SQLParents(session)
        await parents.count()
        assert session.kept_connections == 1
        # The pool's other connection held, a unit of work asks for one.
        async with session.engine.connect(), UnitOfWork(session) as uow:
            await SQLParents(uow).create(Parent(label="in a unit of work"))
            await uow.commit()
            assert session.kept_connections == 0  # given back to the pool for it

        assert [parent.label for parent in await parents.list()] == ["in a unit of work"]


@pytest.mark.parametrize(("url", "who", "kill"), LOST_CONNECTION, ids=["postgresql", "mariadb"])
async def test_a_kept_connection_that_died_fails_one_call_and_is_not_kept_again(
    url: str, who: str, kill: str
) -> None:
    """As a pooled connection returned within the ping window: not pinged, so its loss
    is the next statement's DatabaseUnavailableError (safe to retry); the call after
    gets a live connection."""
    async with opened(url) as session:
        parents = SQLParents(session)
        await parents.count()
        async with session.connection() as kept:
            backend = (await kept.exec_driver_sql(who)).scalar()
        await parents.count()  # keeps a connection again (the one above began a transaction)
        async with session.engine.connect() as killer:
            await killer.exec_driver_sql(kill.format(backend))
            await killer.commit()

        with pytest.raises(DatabaseUnavailableError):
            await parents.count()
        assert session.kept_connections == 0

        assert await parents.count() == 0

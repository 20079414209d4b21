"""A unit of work whose connection dies, on the real servers: what the caller is told.

A commit the server acknowledged is a success; a connection lost while committing is a
CommitOutcomeUnknownError; a rollback that fails never hides the caller's own error.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from fastapi_building_blocks import (
    CommitOutcomeUnknownError,
    SQLAlchemySession,
    UnitOfWork,
)
from tests.backends import MARIADB_URL, POSTGRESQL_URL, sqlite_url
from tests.database.test_session import LOST_CONNECTION
from tests.schema import Parent, SQLParents, create_tables, parents


async def kill_own_connection(
    session: SQLAlchemySession, uow: UnitOfWork, who: str, kill: str
) -> None:
    async with uow.connection() as connection:
        backend = (await connection.exec_driver_sql(who)).scalar()
    async with session.engine.connect() as killer:
        await killer.exec_driver_sql(kill.format(backend))
        await killer.commit()


async def remove_parents(session: SQLAlchemySession) -> None:
    async with session.transaction() as connection:
        await connection.execute(parents.delete())


@pytest.mark.parametrize(("url", "who", "kill"), LOST_CONNECTION)
async def test_a_connection_lost_before_commit_is_an_unknown_outcome_not_a_500(
    url: str, who: str, kill: str
) -> None:
    async with SQLAlchemySession(url, pool_size=2) as session:
        await create_tables(session)
        await remove_parents(session)
        with pytest.raises(CommitOutcomeUnknownError):
            async with UnitOfWork(session) as uow:
                await SQLParents(uow).create(Parent(label="maybe"))
                await kill_own_connection(session, uow, who, kill)
                await uow.commit()

        assert await SQLParents(session).count() == 0  # here the server had rolled it back


@pytest.mark.parametrize(("url", "who", "kill"), LOST_CONNECTION)
async def test_a_failing_rollback_leaves_the_callers_own_error_in_place(
    url: str, who: str, kill: str
) -> None:
    async with SQLAlchemySession(url, pool_size=2) as session:
        await create_tables(session)
        with pytest.raises(LookupError, match="the caller's own"):
            async with UnitOfWork(session) as uow:
                await SQLParents(uow).count()
                await kill_own_connection(session, uow, who, kill)
                raise LookupError("the caller's own")

        assert await SQLParents(session).count() >= 0  # the pool replaced the dead connection


@pytest.mark.parametrize(("url", "who", "kill"), LOST_CONNECTION)
async def test_a_commit_the_server_acknowledged_succeeds_though_the_connection_dies_next(
    url: str, who: str, kill: str
) -> None:
    # The old commit sent BEGIN straight after COMMIT, on this dead connection: a 500 for
    # a write that was stored.
    async with SQLAlchemySession(url, pool_size=2) as session:
        await create_tables(session)
        await remove_parents(session)
        async with UnitOfWork(session) as uow:
            await SQLParents(uow).create(Parent(label="stored"))
            await uow.commit()
            await kill_own_connection(session, uow, who, kill)

        assert [parent.label for parent in await SQLParents(session).list()] == ["stored"]


@pytest.mark.parametrize("url", [POSTGRESQL_URL, MARIADB_URL, "sqlite"])
async def test_an_after_commit_callback_can_write_through_another_connection(
    url: str, tmp_path: Path
) -> None:
    # SQLite: the old commit began the next transaction at once, holding the write lock
    # while callbacks ran, so a callback's own write waited out the busy timeout and failed.
    url = sqlite_url(tmp_path) if url == "sqlite" else url
    async with SQLAlchemySession(url, statement_timeout=2) as session:
        await create_tables(session)
        await remove_parents(session)
        async with UnitOfWork(session) as uow:
            await SQLParents(uow).create(Parent(label="first"))

            async def write_more() -> None:
                await SQLParents(session).create(Parent(label="from the callback"))

            uow.after_commit(write_more)
            await uow.commit()

        labels = sorted(parent.label for parent in await SQLParents(session).list())

    assert labels == ["first", "from the callback"]


@pytest.mark.parametrize("url", [POSTGRESQL_URL, MARIADB_URL])
async def test_the_unit_of_work_can_go_on_after_commit_in_a_new_transaction(url: str) -> None:
    async with SQLAlchemySession(url) as session:
        await create_tables(session)
        await remove_parents(session)
        async with UnitOfWork(session) as uow:
            await SQLParents(uow).create(Parent(label="committed"))
            await uow.commit()
            await SQLParents(uow).create(Parent(label="rolled back"))
            connection: AsyncConnection
            async with uow.connection() as connection:
                assert connection.in_transaction()
        labels = [parent.label for parent in await SQLParents(session).list()]

    assert labels == ["committed"]

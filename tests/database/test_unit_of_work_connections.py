"""A unit of work holds a pooled connection only while its transaction is open.

On a pool of one connection with a short timeout: whatever else the caller runs on the
same session before the first statement, after the commit or after a rollback finds the
connection free. A caller that held one while waiting for another would wait the 1 s
timeout and fail.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fastapi_building_blocks import SQLAlchemySession, UniqueViolationError, UnitOfWork
from tests.backends import SQL_BACKENDS
from tests.conftest import backend_url
from tests.schema import Parent, SQLParents, children, create_tables, parents


@pytest.fixture(params=SQL_BACKENDS)
async def one_connection(request: pytest.FixtureRequest, tmp_path: Path) -> SQLAlchemySession:
    session = SQLAlchemySession(
        backend_url(request.param, tmp_path), pool_size=1, max_overflow=0, pool_timeout=1
    )
    await create_tables(session)
    async with session.transaction() as connection:
        await connection.execute(children.delete())
        await connection.execute(parents.delete())
    return session


async def test_the_connection_is_taken_at_the_first_statement_and_given_back_at_commit(
    one_connection: SQLAlchemySession,
) -> None:
    session = one_connection
    async with UnitOfWork(session) as uow:
        before = await SQLParents(session).count()  # the pool's one connection is free
        await SQLParents(uow).create(Parent(label="in the unit of work"))
        await uow.commit()
        after = await SQLParents(session).count()  # and free again
        await SQLParents(uow).create(Parent(label="the next transaction"))
        await uow.commit()

    assert (before, after) == (0, 1)
    assert await SQLParents(session).count() == 2
    await session.disconnect()


async def test_a_rollback_gives_the_connection_back_and_the_unit_of_work_goes_on(
    one_connection: SQLAlchemySession,
) -> None:
    session = one_connection
    async with UnitOfWork(session) as uow:
        first = await SQLParents(uow).create(Parent(label="first"))
        with pytest.raises(UniqueViolationError):
            await SQLParents(uow).create(Parent(label="again", id=first.id))
        await uow.rollback()
        rolled_back = await SQLParents(session).count()  # free, and nothing was kept
        await SQLParents(uow).create(Parent(label="after the rollback"))
        await uow.commit()

    assert rolled_back == 0
    assert [parent.label for parent in await SQLParents(session).list()] == ["after the rollback"]
    await session.disconnect()


async def test_leaving_without_a_statement_takes_no_connection(
    one_connection: SQLAlchemySession,
) -> None:
    session = one_connection
    # The pool's only connection held throughout: the unit of work needs none.
    async with session.statement(), UnitOfWork(session) as uow:
        await uow.commit()
    await session.disconnect()

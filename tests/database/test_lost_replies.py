"""A write whose reply is lost after the server stored it, on the real servers: the caller
hears that the outcome is unknown, never that the write failed.

The relay (tests/servers/reply_cutter.py) lets the request through and drops the
server's answer with the connection, as a middlebox that cuts a connection does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from fastapi_building_blocks import (
    CommitOutcomeUnknownError,
    SQLAlchemySession,
    StatementTimeoutError,
    UnitOfWork,
)
from tests.backends import MARIADB_URL, POSTGRESQL_URL
from tests.schema import Parent, SQLParents, children, create_tables, parents
from tests.servers.reply_cutter import ReplyCutter, cutter_for


@pytest.fixture(params=[POSTGRESQL_URL, MARIADB_URL], ids=["postgresql", "mariadb"])
async def direct(request: pytest.FixtureRequest) -> AsyncIterator[SQLAlchemySession]:
    """The server itself, no relay: where the tests look at what was stored."""
    session = SQLAlchemySession(request.param)
    await create_tables(session)
    async with session.transaction() as connection:
        await connection.execute(children.delete())
        await connection.execute(parents.delete())
    yield session
    await session.disconnect()


@asynccontextmanager
async def through(
    cutter: ReplyCutter, direct: SQLAlchemySession
) -> AsyncIterator[SQLAlchemySession]:
    """One connection through the relay, never pinged: the cut reply is the write's."""
    url = cutter.url_for(direct.url.render_as_string(hide_password=False))
    session = SQLAlchemySession(url, pool_size=1, max_overflow=0, ping_after_idle_seconds=3600)
    try:
        yield session
    finally:
        await session.disconnect()


async def test_a_single_statements_lost_reply_is_an_unknown_outcome(
    direct: SQLAlchemySession,
) -> None:
    async with cutter_for(str(direct.url)).running() as cutter, through(cutter, direct) as session:
        # The connection made and the INSERT prepared, each in a round trip of its own
        # (asyncpg prepares a statement the first times it sees it), so that the reply
        # cut next is the one to the INSERT itself.
        for n in range(2):
            await SQLParents(session).create(Parent(label=f"answered {n}"))
        cutter.cut_next_reply()
        with pytest.raises(CommitOutcomeUnknownError):
            await SQLParents(session).create(Parent(label="stored, unanswered"))

    stored = [parent.label for parent in await SQLParents(direct).list()]
    assert stored == ["answered 0", "answered 1", "stored, unanswered"]


async def test_a_commits_lost_reply_is_an_unknown_outcome(direct: SQLAlchemySession) -> None:
    async with cutter_for(str(direct.url)).running() as cutter, through(cutter, direct) as session:
        with pytest.raises(CommitOutcomeUnknownError):
            async with UnitOfWork(session) as uow:
                await SQLParents(uow).create(Parent(label="committed, unanswered"))
                cutter.cut_next_reply()
                await uow.commit()

    stored = [parent.label for parent in await SQLParents(direct).list()]
    assert stored == ["committed, unanswered"]


async def test_a_write_the_server_cancelled_at_its_timeout_is_a_timeout_not_an_unknown(
    direct: SQLAlchemySession,
) -> None:
    """The server's own statement timeout cancels the write (here: it waited for a row
    lock held elsewhere), so nothing was stored and the caller may hear exactly that."""
    parent = await SQLParents(direct).create(Parent(label="locked"))
    url = direct.url.render_as_string(hide_password=False)
    # The row lock, held past the other session's statement timeout.
    async with (
        SQLAlchemySession(url, statement_timeout=1) as impatient,
        direct.transaction() as holder,
    ):
        await holder.execute(parents.update().where(parents.c.id == parent.id).values(label="held"))
        with pytest.raises(StatementTimeoutError):
            await SQLParents(impatient).update(Parent(label="never", id=parent.id))

    assert [p.label for p in await SQLParents(direct).list()] == ["held"]

"""A server that stops answering: every wait on the driver path ends at the answer bound
(a second past the statement timeout), and the service goes on once it answers again.

The relay (tests/servers/reply_cutter.py) keeps every connection open and drops the
server's replies, as a frozen server does: the server's own statement timeout cannot end
these waits, only the client's bound can.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest

from fastapi_building_blocks import (
    CommitOutcomeUnknownError,
    SQLAlchemySession,
    StatementTimeoutError,
    UnitOfWork,
)
from tests.backends import MARIADB_URL, POSTGRESQL_URL
from tests.schema import Parent, SQLParents, children, create_tables, key_of, parents
from tests.servers.reply_cutter import ReplyCutter, cutter_for

#: The statement timeout of the sessions through the relay; their bound is a second more.
STATEMENT_TIMEOUT = 0.5
#: How long a test waits for a call the bound should have ended, before failing.
GUARD_SECONDS = 10


@pytest.fixture(params=[POSTGRESQL_URL, MARIADB_URL], ids=["postgresql", "mariadb"])
async def direct(request: pytest.FixtureRequest) -> AsyncIterator[SQLAlchemySession]:
    session = await empty_session(request.param)
    yield session
    await session.disconnect()


async def empty_session(url: str, **options: Any) -> SQLAlchemySession:
    session = SQLAlchemySession(url, **options)
    await create_tables(session)
    async with session.transaction() as connection:
        await connection.execute(children.delete())
        await connection.execute(parents.delete())
    return session


@asynccontextmanager
async def relayed(direct: SQLAlchemySession) -> AsyncIterator[tuple[ReplyCutter, SQLParents]]:
    """A repository on a session whose connections go through the relay."""
    async with cutter_for(str(direct.url)).running() as cutter:
        url = cutter.url_for(direct.url.render_as_string(hide_password=False))
        session = SQLAlchemySession(url, statement_timeout=STATEMENT_TIMEOUT)
        try:
            yield cutter, SQLParents(session)
        finally:
            cutter.answer_again()
            await session.disconnect()


async def test_a_read_the_server_never_answers_is_a_timeout_then_reads_go_on(
    direct: SQLAlchemySession,
) -> None:
    stored = await SQLParents(direct).create(Parent(label="stored"))
    async with relayed(direct) as (cutter, relayed_parents):
        assert (await relayed_parents.get_by_id(key_of(stored))).label == "stored"
        cutter.stop_answering()
        with pytest.raises(StatementTimeoutError):
            await asyncio.wait_for(relayed_parents.get_by_id(key_of(stored)), GUARD_SECONDS)
        cutter.answer_again()
        again = await asyncio.wait_for(relayed_parents.get_by_id(key_of(stored)), GUARD_SECONDS)

    assert again.label == "stored"


async def test_a_write_the_server_never_answers_is_an_unknown_outcome_not_a_failure(
    direct: SQLAlchemySession,
) -> None:
    async with relayed(direct) as (cutter, relayed_parents):
        await relayed_parents.create(Parent(label="answered"))
        cutter.stop_answering()
        with pytest.raises(CommitOutcomeUnknownError):
            await asyncio.wait_for(relayed_parents.create(Parent(label="sent")), GUARD_SECONDS)


async def test_a_unit_of_work_whose_statement_is_never_answered_ends_with_a_timeout(
    direct: SQLAlchemySession,
) -> None:
    async def write_in_a_unit_of_work(session: Any) -> None:
        async with UnitOfWork(session) as uow:
            await SQLParents(uow).create(Parent(label="in the unit of work"))
            cutter.stop_answering()
            await SQLParents(uow).create(Parent(label="never answered"))
            await uow.commit()

    async with relayed(direct) as (cutter, relayed_parents):
        with pytest.raises(StatementTimeoutError):
            await asyncio.wait_for(write_in_a_unit_of_work(relayed_parents.session), GUARD_SECONDS)

    assert await SQLParents(direct).list() == []


@contextmanager
def timers_armed() -> Iterator[list[float]]:
    """The delay of every timer the running event loop arms inside the block."""
    loop: Any = asyncio.get_running_loop()
    armed: list[float] = []
    call_later = loop.call_later

    def counting(delay: float, *arguments: Any, **keywords: Any) -> Any:
        armed.append(delay)
        return call_later(delay, *arguments, **keywords)

    loop.call_later = counting
    try:
        yield armed
    finally:
        del loop.call_later


async def test_on_postgresql_driver_statements_share_one_timer_instead_of_one_each() -> None:
    """asyncpg's own bound arms a timer per statement (13-17 µs each here); the driver
    path's statements are watched together. The bound itself is tested above."""
    async with await empty_session(POSTGRESQL_URL) as session, UnitOfWork(session) as uow:
        parents_in_uow = SQLParents(uow)
        created = await parents_in_uow.create(Parent(label="timed"))
        key = key_of(created)
        await parents_in_uow.get_by_id(key)  # prepared on this connection, under its own timer
        with timers_armed() as armed:
            for _ in range(20):
                await parents_in_uow.get_by_id(key)
        await uow.rollback()

    assert len(armed) <= 1, armed

"""What `uow.publish` sends, and when: the row goes with the unit of work's next statement,
or with its COMMIT where the driver can send both at once (PostgreSQL). On real servers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import func, select, text

from fastapi_building_blocks import (
    CommitOutcomeUnknownError,
    ConflictError,
    DatabaseUnavailableError,
    InvalidValueError,
    SQLAlchemySession,
    UnitOfWork,
    UnitOfWorkError,
)
from fastapi_building_blocks.dialects.driver_path import driver_connection
from fastapi_building_blocks.outbox import Event
from tests.outbox.conftest import Pair
from tests.outbox.schema import accounts, changed, create_account, outbox


async def stored_events(pair: Pair) -> list[dict[str, Any]]:
    statement = select(outbox).order_by(outbox.c.id)
    async with pair.source.connection() as connection:
        return [dict(row._mapping) for row in await connection.execute(statement)]


async def account_count(pair: Pair) -> int:
    async with pair.source.connection() as connection:
        return (await connection.execute(select(func.count()).select_from(accounts))).scalar_one()


@asynccontextmanager
async def queries_sent(uow: UnitOfWork) -> AsyncIterator[list[str]]:
    """Each query the unit of work's asyncpg connection sends inside the block."""
    sent: list[str] = []
    async with uow.connection() as connection:
        driver = driver_connection(connection)

    def log(query: Any) -> None:
        sent.append(query.query)

    driver.add_query_logger(log)
    try:
        yield sent
        await asyncio.sleep(0)  # the driver calls its loggers soon after each query
    finally:
        driver.remove_query_logger(log)


@pytest.fixture(params=[True, False], ids=["driver path", "sqlalchemy path"])
async def db(pair: Pair, request: pytest.FixtureRequest) -> AsyncIterator[Pair]:
    """The pair's source on either statement path: the rows that wait for the next
    statement are sent through the session's executor, the driver's or SQLAlchemy's."""
    if request.param:
        yield pair
        return
    session = SQLAlchemySession(pair.source.url, use_driver_path=False)
    yield Pair(pair.name, session, pair.target)
    await session.disconnect()


# -- PostgreSQL: one message for the row and the COMMIT -----------------------------------


@pytest.mark.parametrize("pair", ["postgresql"], indirect=True)
async def test_an_event_published_last_travels_with_the_commit(db: Pair) -> None:
    async with UnitOfWork(db.source) as uow, queries_sent(uow) as sent:
        await create_account(uow, "ada")
        await uow.commit()

    inserts = [query for query in sent if "outbox_test_outbox" in query]
    assert len(inserts) == 1
    assert inserts[0].startswith("INSERT INTO outbox_test_outbox")
    assert inserts[0].endswith("; COMMIT")
    assert "COMMIT" not in [query.strip().upper() for query in sent]  # no COMMIT of its own
    assert [event["event_type"] for event in await stored_events(db)] == ["account.created"]
    assert await account_count(db) == 1


@pytest.mark.parametrize("pair", ["postgresql"], indirect=True)
async def test_an_event_published_alone_is_one_statement_without_begin(db: Pair) -> None:
    async with UnitOfWork(db.source) as uow, queries_sent(uow) as sent:
        await uow.publish(changed(uuid.uuid4(), "alone", 1, "account.created"), outbox=outbox)
        await uow.commit()

    assert [query.split(" (")[0] for query in sent] == ["INSERT INTO outbox_test_outbox"]
    assert len(await stored_events(db)) == 1


@pytest.mark.parametrize("pair", ["postgresql"], indirect=True)
async def test_without_standard_strings_the_row_takes_its_own_insert(db: Pair) -> None:
    """A server that reads backslashes in string literals as escapes cannot be sent a
    literal safely: the row goes as a bound INSERT, and arrives exactly."""
    name = r"C:\temp\n 'quoted'"
    async with UnitOfWork(db.source) as uow:
        async with uow.connection() as connection:
            await connection.execute(text("SET LOCAL standard_conforming_strings = off"))
        async with queries_sent(uow) as sent:
            await uow.publish(changed(uuid.uuid4(), name, 1, "account.created"), outbox=outbox)
            await uow.commit()

    assert not any(query.endswith("; COMMIT") for query in sent)
    assert [event["payload"]["name"] for event in await stored_events(db)] == [name]


@pytest.mark.parametrize("pair", ["postgresql"], indirect=True)
async def test_a_nul_character_is_refused_not_cut_short(db: Pair) -> None:
    """A literal would end at the NUL; the bound INSERT lets the server refuse it."""
    with pytest.raises(InvalidValueError):
        async with UnitOfWork(db.source) as uow:
            await create_account(uow, "nul")
            await uow.publish(Event("account", "a\x00b", "account.created", {}), outbox=outbox)
            await uow.commit()

    assert await stored_events(db) == []
    assert await account_count(db) == 0


# -- every backend ------------------------------------------------------------------------


async def test_values_are_stored_exactly_as_published(db: Pair) -> None:
    tricky = "O'Brien \\' \"$$ ; COMMIT; DROP TABLE x; -- ü 😀\n"
    payload = {"name": tricky, "big": 10**20, "ratio": 0.5, "none": None, "list": [1, "'"]}
    event = Event(f"account{tricky}", tricky, f"renamed{tricky}", payload)
    async with UnitOfWork(db.source) as uow:
        await uow.publish(event, outbox=outbox)
        await uow.commit()

    (stored,) = await stored_events(db)
    assert stored["id"] == event.id
    assert (stored["aggregate_type"], stored["aggregate_id"], stored["event_type"]) == (
        event.aggregate_type, event.aggregate_id, event.event_type,
    )  # fmt: skip
    assert stored["payload"] == event.payload


async def test_an_event_is_visible_to_the_next_statement_of_its_unit_of_work(db: Pair) -> None:
    async with UnitOfWork(db.source) as uow:
        await create_account(uow, "seen")
        async with uow.connection() as connection:
            pending = (await connection.execute(select(func.count()).select_from(outbox))).scalar()
        await uow.rollback()

    assert pending == 1
    assert await stored_events(db) == []


async def test_a_savepoint_rolled_back_drops_the_events_published_inside_it(db: Pair) -> None:
    async with UnitOfWork(db.source) as uow:
        await create_account(uow, "before")
        with pytest.raises(LookupError):
            async with uow.savepoint():
                await create_account(uow, "inside")
                raise LookupError("undo the inside")
        async with uow.savepoint():
            await create_account(uow, "kept inside")
        await create_account(uow, "after")
        await uow.commit()

    names = [event["payload"]["name"] for event in await stored_events(db)]
    assert names == ["before", "kept inside", "after"]
    assert await account_count(db) == 3


async def test_events_left_without_a_commit_are_never_sent(db: Pair) -> None:
    async with UnitOfWork(db.source) as uow:
        await create_account(uow, "rolled back")
        await uow.rollback()
        await uow.publish(changed(uuid.uuid4(), "left", 1, "account.created"), outbox=outbox)
    async with UnitOfWork(db.source) as uow:
        await uow.commit()  # nothing of the first unit of work's is carried over

    assert await stored_events(db) == []


async def test_each_commit_of_one_unit_of_work_carries_its_own_events(db: Pair) -> None:
    """After a commit that carried events, the connection begins the next transaction as
    after any other: here twice, then it goes back to the pool and serves again."""
    async with UnitOfWork(db.source) as uow:
        await create_account(uow, "first")
        await uow.commit()
        await create_account(uow, "second")
        await uow.commit()
        await uow.publish(changed(uuid.uuid4(), "third", 1, "account.created"), outbox=outbox)
        await uow.publish(changed(uuid.uuid4(), "fourth", 1, "account.created"), outbox=outbox)
        await uow.commit()
        await create_account(uow, "rolled back")
        await uow.rollback()
    async with UnitOfWork(db.source) as uow:
        await create_account(uow, "fifth")
        await uow.commit()

    names = [event["payload"]["name"] for event in await stored_events(db)]
    assert names == ["first", "second", "third", "fourth", "fifth"]
    assert await account_count(db) == 3


async def test_an_event_the_outbox_refuses_at_commit_leaves_nothing_stored(db: Pair) -> None:
    event = changed(uuid.uuid4(), "twice", 1, "account.created")
    with pytest.raises(ConflictError):
        async with UnitOfWork(db.source) as uow:
            await create_account(uow, "with a duplicate event")
            await uow.publish(event, outbox=outbox)
            await uow.publish(event, outbox=outbox)  # the same id again
            try:
                await uow.commit()
            finally:
                with pytest.raises(UnitOfWorkError):  # roll back before going on
                    await uow.publish(event, outbox=outbox)

    assert await stored_events(db) == []
    assert await account_count(db) == 0


@pytest.mark.parametrize("pair", ["postgresql", "mariadb"], indirect=True)
async def test_a_connection_lost_before_the_commit_with_events_is_never_a_success(
    db: Pair,
) -> None:
    """On PostgreSQL the row goes with the COMMIT, so a lost connection leaves the outcome
    unknown; on MariaDB the row's own INSERT fails first, and nothing was committed."""
    expected = CommitOutcomeUnknownError if db.name == "postgresql" else DatabaseUnavailableError
    who, kill = (
        ("SELECT pg_backend_pid()", "SELECT pg_terminate_backend({})")
        if db.name == "postgresql"
        else ("SELECT CONNECTION_ID()", "KILL {}")
    )
    with pytest.raises(expected):
        async with UnitOfWork(db.source) as uow:
            await create_account(uow, "maybe")
            async with uow.connection() as connection:
                victim = (await connection.execute(text(who))).scalar()
            async with db.source.engine.connect() as killer:
                await killer.execute(text(kill.format(victim)))
                await killer.commit()
            await uow.publish(changed(uuid.uuid4(), "maybe", 1, "account.created"), outbox=outbox)
            await uow.commit()

    assert await stored_events(db) == []  # the server rolled it back with the connection
    assert await account_count(db) == 0

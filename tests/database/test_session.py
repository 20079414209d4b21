"""SQLAlchemySession: built from a URL alone, tuned per dialect, honest when things fail."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.pool import StaticPool

from fastapi_building_blocks import (
    ConcurrencyError,
    ConfigurationError,
    DatabaseUnavailableError,
    Filter,
    SQLAlchemySession,
    UnitOfWork,
    mask_url,
)
from fastapi_building_blocks.database import translate_error
from fastapi_building_blocks.dialects.driver_path import driver_connection
from tests.backends import MARIADB_URL, POSTGRESQL_URL, sqlite_url
from tests.schema import Parent, SQLParents, create_tables, key_of, parents

SECRET = "s3cret-Pa55"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("oracle+oracledb://u:p@h/d", "not supported"),
        ("nosuchdb://u:p@h/d", "not supported"),
        ("postgresql+psycopg2://u:p@h/d", "through asyncpg"),
        ("mysql+pymysql://u:p@h/d", "through aiomysql"),
        ("::not a url::", "cannot be parsed"),
    ],
)
def test_an_unusable_url_raises_one_clear_configuration_error(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        SQLAlchemySession(url)


def test_a_missing_driver_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "aioodbc", None)  # as if it were not installed

    with pytest.raises(ConfigurationError, match=r"fastapi-building-blocks\[mssql\]"):
        SQLAlchemySession(f"mssql+aioodbc://sa:{SECRET}@db/app")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@h/d", "postgresql+asyncpg"),
        ("mysql://u:p@h/d", "mysql+aiomysql"),
        ("mariadb://u:p@h/d", "mariadb+aiomysql"),
        ("sqlite:///x.db", "sqlite+aiosqlite"),
    ],
)
def test_a_plain_scheme_gets_the_async_driver(url: str, expected: str) -> None:
    assert SQLAlchemySession(url).url.drivername == expected


def test_the_password_never_shows_in_repr_str_or_mask() -> None:
    session = SQLAlchemySession(f"postgresql+asyncpg://app:{SECRET}@db:5432/app")

    assert SECRET not in repr(session)
    assert SECRET not in str(session)
    assert SECRET not in mask_url(session.url)
    assert "app:***@db:5432/app" in repr(session)


def test_pool_defaults_to_a_fixed_ten_and_can_be_overridden() -> None:
    default = SQLAlchemySession(POSTGRESQL_URL)
    tuned = SQLAlchemySession(POSTGRESQL_URL, pool_size=5, max_overflow=10)

    assert (default.engine.pool.size(), default.engine.pool._max_overflow) == (10, 0)  # type: ignore[attr-defined]
    assert (tuned.engine.pool.size(), tuned.engine.pool._max_overflow) == (5, 10)  # type: ignore[attr-defined]


def test_mysql_urls_get_utf8mb4_and_a_pool_recycle() -> None:
    session = SQLAlchemySession("mysql+aiomysql://u:p@h/d")

    assert session.url.query["charset"] == "utf8mb4"
    assert session.engine.pool._recycle == 3600


async def test_sqlite_files_run_with_wal_foreign_keys_and_the_statement_timeout_as_busy_timeout(
    tmp_path: Path,
) -> None:
    session = SQLAlchemySession(
        f"sqlite+aiosqlite:///{tmp_path / 'tuned.db'}", statement_timeout=2.5
    )
    async with session, session.engine.connect() as connection:
        pragmas = [
            (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar()
            for name in ("journal_mode", "foreign_keys", "busy_timeout")
        ]

    assert pragmas == ["wal", 1, 2500]


async def test_concurrent_sqlite_units_of_work_that_read_then_write_all_commit(
    tmp_path: Path,
) -> None:
    # Deferred transactions failed here at once with "database is locked" (six of eight):
    # SQLite refuses to let one wait for the write lock after it has read.
    session = SQLAlchemySession(f"sqlite+aiosqlite:///{tmp_path / 'busy.db'}")
    async with session:
        await create_tables(session)
        first = await SQLParents(session).create(Parent(label="first"))

        async def read_then_write(number: int) -> None:
            async with UnitOfWork(session) as uow:
                repository = SQLParents(uow)
                await repository.get_by_id(key_of(first))
                await asyncio.sleep(0.01)  # the others read meanwhile
                await repository.create(Parent(label=f"writer-{number}"))
                await uow.commit()

        await asyncio.gather(*(read_then_write(number) for number in range(8)))
        stored = await SQLParents(session).count([Filter("label", "startswith", "writer-")])

    assert stored == 8


async def test_a_sqlite_unit_of_work_kept_waiting_past_the_busy_timeout_is_a_concurrency_error(
    tmp_path: Path,
) -> None:
    session = SQLAlchemySession(
        f"sqlite+aiosqlite:///{tmp_path / 'held.db'}", statement_timeout=0.5
    )
    async with session:
        await create_tables(session)
        async with UnitOfWork(session) as holder:
            await SQLParents(holder).create(Parent(label="holder"))
            with pytest.raises(ConcurrencyError):  # after the 0.5 s busy timeout
                async with UnitOfWork(session) as waiter:
                    await SQLParents(waiter).create(Parent(label="waiter"))
            assert session.engine.pool.checkedout() == 1  # type: ignore[attr-defined]  # the holder's: the waiter's is back
            await holder.commit()
        labels = [parent.label for parent in await SQLParents(session).list()]

    assert labels == ["holder"]


async def test_an_in_memory_sqlite_database_is_shared_by_every_checkout() -> None:
    async with SQLAlchemySession("sqlite+aiosqlite://") as session:
        async with session.transaction() as connection:
            await connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            await connection.exec_driver_sql("INSERT INTO t VALUES (1)")
        async with session.engine.connect() as connection:
            count = (await connection.exec_driver_sql("SELECT count(*) FROM t")).scalar()

    assert isinstance(session.engine.pool, StaticPool)
    assert count == 1


async def test_mariadb_sessions_run_in_utc_with_utf8mb4() -> None:
    session = SQLAlchemySession(MARIADB_URL)
    async with session, session.engine.connect() as connection:
        query = text("SELECT @@session.time_zone, @@character_set_client")
        row = (await connection.execute(query)).one()

    assert tuple(row) == ("+00:00", "utf8mb4")


async def test_mariadb_dates_read_as_before_zero_dates_included_through_the_fast_decoders() -> None:
    from pymysql.constants import FIELD_TYPE
    from pymysql.converters import decoders as pymysql_decoders

    session = SQLAlchemySession(MARIADB_URL)
    query = text(
        "SELECT CAST('2026-01-02 03:04:05.678901' AS DATETIME(6)),"
        " TIMESTAMP('2026-01-02 03:04:05'), CAST('2026-01-02' AS DATE),"
        " CAST('0000-00-00 00:00:00' AS DATETIME), CAST('0000-00-00' AS DATE)"
    )
    async with session, session.engine.connect() as connection:
        row = (await connection.execute(query)).one()
        decoders = driver_connection(connection).decoders

    assert tuple(row) == (
        datetime(2026, 1, 2, 3, 4, 5, 678901),
        datetime(2026, 1, 2, 3, 4, 5),
        date(2026, 1, 2),
        "0000-00-00 00:00:00",  # PyMySQL's answer to a date Python cannot hold
        "0000-00-00",
    )
    for field in (FIELD_TYPE.DATETIME, FIELD_TYPE.TIMESTAMP, FIELD_TYPE.DATE):
        assert decoders[field] is not pymysql_decoders[field]


@pytest.mark.parametrize("url", [POSTGRESQL_URL, MARIADB_URL, "sqlite+aiosqlite:///x.db"])
async def test_ping_answers_when_the_database_is_up(url: str, tmp_path: Path) -> None:
    if url.startswith("sqlite"):
        url = f"sqlite+aiosqlite:///{tmp_path / 'ping.db'}"
    async with SQLAlchemySession(url) as session:
        await session.ping()


UNREACHABLE = [
    f"postgresql+asyncpg://fbb:{SECRET}@127.0.0.1:1/fbb_test",
    f"mysql+aiomysql://fbb:{SECRET}@127.0.0.1:1/fbb_test",
    "sqlite+aiosqlite:////nonexistent/directory/app.db",
]
REFUSED = [
    f"postgresql+asyncpg://fbb:{SECRET}@127.0.0.1:5432/fbb_test",  # wrong password
    f"mysql+aiomysql://fbb:{SECRET}@127.0.0.1:3306/fbb_test",  # wrong password
    "postgresql+asyncpg://fbb:fbb@127.0.0.1:5432/no_such_database",
    "mysql+aiomysql://fbb:fbb@127.0.0.1:3306/no_such_database",
]


@pytest.mark.parametrize("url", UNREACHABLE)
async def test_an_unreachable_database_is_retried_until_the_connect_timeout_then_unavailable(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    session = SQLAlchemySession(url, connect_timeout=1.5)  # room for a second attempt

    with pytest.raises(DatabaseUnavailableError) as raised:
        await session.connect()

    assert SECRET not in str(raised.value)
    assert SECRET not in caplog.text
    assert "attempt 2" in caplog.text
    await session.disconnect()


@pytest.mark.parametrize("url", REFUSED)
async def test_a_refused_login_or_unknown_database_fails_at_once_as_configuration(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    session = SQLAlchemySession(url, connect_timeout=60)

    with pytest.raises(ConfigurationError) as raised:
        await session.connect()

    assert "refused the login or the database name" in str(raised.value)
    assert SECRET not in str(raised.value)
    assert SECRET not in caplog.text
    assert "retrying" not in caplog.text
    await session.disconnect()


@pytest.mark.parametrize("url", UNREACHABLE[:2])
async def test_a_repository_on_an_unreachable_database_raises_unavailable(url: str) -> None:
    session = SQLAlchemySession(url)

    with pytest.raises(DatabaseUnavailableError) as raised:
        await SQLParents(session).count()

    assert raised.value.table == "parents"
    await session.disconnect()


LOST_CONNECTION = [
    (POSTGRESQL_URL, "SELECT pg_backend_pid()", "SELECT pg_terminate_backend({})"),
    (MARIADB_URL, "SELECT connection_id()", "KILL {}"),
]


@pytest.mark.parametrize(("url", "who", "kill"), LOST_CONNECTION)
async def test_a_connection_lost_mid_transaction_is_unavailable(
    url: str, who: str, kill: str
) -> None:
    async with SQLAlchemySession(url, pool_size=2) as session:
        failure = await lose_connection_mid_transaction(session, who, kill)

        assert isinstance(translate_error(failure, session.dialect, None), DatabaseUnavailableError)
        await session.ping()  # the pool recovers: pre-ping replaces the dead connection


async def lose_connection_mid_transaction(
    session: SQLAlchemySession, who: str, kill: str
) -> Exception:
    try:
        async with session.transaction() as doomed:
            backend = (await doomed.exec_driver_sql(who)).scalar()
            async with session.engine.connect() as killer:
                await killer.exec_driver_sql(kill.format(backend))
            await doomed.exec_driver_sql("SELECT 1")
    except Exception as error:
        return error
    raise AssertionError("the transaction survived its connection being killed")


async def kill_idle_pooled_connection(session: SQLAlchemySession, who: str, kill: str) -> None:
    """Leave the pool holding one connection that the server has already closed."""
    async with session.engine.connect() as killer:
        async with session.engine.connect() as victim:
            backend = (await victim.exec_driver_sql(who)).scalar()
        await killer.exec_driver_sql(kill.format(backend))
        await killer.commit()
    # the pool is first-in first-out: the dead connection, returned first, is next in line


@pytest.mark.parametrize(("url", "who", "kill"), LOST_CONNECTION)
async def test_a_pooled_connection_that_died_while_idle_is_replaced_unnoticed(
    url: str, who: str, kill: str
) -> None:
    async with SQLAlchemySession(
        url, pool_size=2, max_overflow=0, ping_after_idle_seconds=0
    ) as session:
        await kill_idle_pooled_connection(session, who, kill)

        assert await SQLParents(session).count() >= 0  # the pre-ping swapped the dead one


@pytest.mark.parametrize(("url", "who", "kill"), LOST_CONNECTION)
async def test_a_connection_returned_moments_ago_is_not_pinged_so_its_death_shows_once(
    url: str, who: str, kill: str
) -> None:
    async with SQLAlchemySession(
        url, pool_size=2, max_overflow=0, ping_after_idle_seconds=60
    ) as session:
        await kill_idle_pooled_connection(session, who, kill)

        with pytest.raises(DatabaseUnavailableError):
            await SQLParents(session).count()
        for _ in range(3):  # more than the pool holds: the dead connection has left it
            assert await SQLParents(session).count() >= 0


async def test_a_single_statement_write_in_autocommit_is_committed(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'autocommit.db'}"
    async with SQLAlchemySession(url) as session:
        async with session.transaction() as connection:
            await connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        async with session.statement() as connection:
            await connection.exec_driver_sql("INSERT INTO t VALUES (1)")
        async with session.engine.connect() as connection:
            count = (await connection.exec_driver_sql("SELECT count(*) FROM t")).scalar()

    assert count == 1


@pytest.mark.parametrize(("url", "who", "kill"), LOST_CONNECTION)
async def test_without_pre_ping_a_connection_that_died_idle_surfaces_as_unavailable(
    url: str, who: str, kill: str
) -> None:
    async with SQLAlchemySession(url, pool_size=2, max_overflow=0, pool_pre_ping=False) as session:
        await kill_idle_pooled_connection(session, who, kill)

        with pytest.raises(DatabaseUnavailableError):
            await SQLParents(session).count()


@pytest.mark.parametrize("backend", ["postgresql", "mariadb", "sqlite"])
async def test_a_read_leaves_no_snapshot_behind_on_its_pooled_connection(
    backend: str, tmp_path: Path
) -> None:
    url = {"postgresql": POSTGRESQL_URL, "mariadb": MARIADB_URL}.get(backend) or sqlite_url(
        tmp_path
    )
    async with (
        SQLAlchemySession(url) as writer,
        SQLAlchemySession(url, pool_size=1, max_overflow=0) as reader,
    ):
        await create_tables(writer)
        parent = await SQLParents(writer).create(Parent(label=f"before-{uuid.uuid4()}"))

        changed = parent.model_copy(update={"label": f"after-{uuid.uuid4()}"})
        seen_first = await SQLParents(reader).get(key_of(parent))
        await SQLParents(writer).update(changed)
        seen_next = await SQLParents(reader).get(key_of(parent))  # the same pooled connection

    assert [seen_first, seen_next] == [parent, changed]


SERVER_COMMANDS = (
    "Com_select",
    "Com_insert",
    "Com_update",
    "Com_begin",
    "Com_commit",
    "Com_rollback",
)


async def commands_sent(session: SQLAlchemySession) -> dict[str, int]:
    """The session's statement counters on a pool of one, read beside SQLAlchemy's back."""
    names = ", ".join(f"'{name}'" for name in SERVER_COMMANDS)
    async with session.engine.connect() as connection:
        cursor = await driver_connection(connection).cursor()
        await cursor.execute(f"SHOW SESSION STATUS WHERE Variable_name IN ({names})")
        return {name: int(count) for name, count in await cursor.fetchall()}


async def test_mariadb_reads_and_single_row_writes_are_one_statement_each() -> None:
    async with SQLAlchemySession(MARIADB_URL, pool_size=1, max_overflow=0) as session:
        await create_tables(session)
        repository = SQLParents(session)
        parent = await repository.create(Parent(label=f"first-{uuid.uuid4()}"))

        sent = []
        operations: tuple[Callable[[], Awaitable[Any]], ...] = (
            lambda: repository.get(key_of(parent)),
            lambda: repository.update(parent.model_copy(update={"label": f"then-{uuid.uuid4()}"})),
            lambda: repository.create(Parent(label=f"second-{uuid.uuid4()}")),
        )
        for operation in operations:
            before = await commands_sent(session)
            await operation()
            after = await commands_sent(session)
            sent.append(
                {
                    name: after[name] - before[name]
                    for name in SERVER_COMMANDS
                    if after[name] > before[name]
                }
            )

    # No BEGIN, COMMIT or ROLLBACK around them: the connection is in autocommit.
    assert sent == [{"Com_select": 1}, {"Com_update": 1}, {"Com_insert": 1}]


async def test_mariadb_transactions_still_begin_and_commit_or_roll_back() -> None:
    async with SQLAlchemySession(MARIADB_URL, pool_size=1, max_overflow=0) as session:
        await create_tables(session)
        label = f"undone-{uuid.uuid4()}"

        before = await commands_sent(session)
        async with session.transaction() as connection:
            await connection.execute(parents.insert().values(label=f"kept-{uuid.uuid4()}"))
        with pytest.raises(RuntimeError):
            async with session.transaction() as connection:
                await connection.execute(parents.insert().values(label=label))
                raise RuntimeError("undo it")
        after = await commands_sent(session)
        undone = await SQLParents(session).find_one([Filter("label", "eq", label)])

    assert {
        name: after[name] - before[name] for name in ("Com_begin", "Com_commit", "Com_rollback")
    } == {
        "Com_begin": 2,
        "Com_commit": 1,
        "Com_rollback": 1,
    }
    assert undone is None


async def test_a_connection_switched_to_another_isolation_level_returns_to_autocommit() -> None:
    async with (
        SQLAlchemySession(MARIADB_URL, pool_size=1, max_overflow=0) as session,
        SQLAlchemySession(MARIADB_URL) as observer,
    ):
        await create_tables(session)
        async with session.engine.connect() as connection:
            serializable = await connection.execution_options(isolation_level="SERIALIZABLE")
            await serializable.exec_driver_sql("SELECT 1")

        written = await SQLParents(session).create(Parent(label=f"after-{uuid.uuid4()}"))
        seen = await SQLParents(observer).get(key_of(written))

    assert seen == written  # committed by itself, not left in an open transaction


async def test_on_mariadb_engine_connect_keeps_sqlalchemys_commit_as_you_go() -> None:
    label = f"uncommitted-{uuid.uuid4().hex[:12]}"
    async with SQLAlchemySession(MARIADB_URL) as session:
        await create_tables(session)
        async with session.engine.connect() as connection:  # autobegin sends BEGIN
            await connection.execute(parents.insert().values(label=label))
        # closed without commit(): rolled back, as SQLAlchemy promises
        kept = await SQLParents(session).find_one([Filter("label", "eq", label)])

    assert kept is None


@pytest.mark.parametrize("url", [POSTGRESQL_URL, MARIADB_URL])
async def test_ping_answers_while_every_pooled_connection_is_taken(url: str) -> None:
    session = SQLAlchemySession(url, pool_size=1, max_overflow=0, pool_timeout=30)
    assert session.ping_timeout < 30
    async with session, session.connection() as held:
        await held.exec_driver_sql("SELECT 1")
        # A pooled connection would wait pool_timeout, and ping would raise at its own.
        await session.ping()


async def test_ping_gives_up_after_its_own_timeout(tmp_path: Path) -> None:

    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        session = SQLAlchemySession(
            f"postgresql+asyncpg://fbb:fbb@127.0.0.1:{port}/fbb_test", ping_timeout=0.3
        )
        with pytest.raises(DatabaseUnavailableError, match=r"no answer within 0\.3s"):
            # The guard is a hang's way out, far past the ping timeout under test.
            await asyncio.wait_for(session.ping(), 30)
        await session.disconnect()


def test_the_driver_path_can_be_switched_off() -> None:
    assert SQLAlchemySession("sqlite+aiosqlite://").driver_path is not None
    assert SQLAlchemySession("sqlite+aiosqlite://", use_driver_path=False).driver_path is None


async def test_a_postgresql_connection_used_after_it_closed_is_unavailable_not_refused() -> None:
    # asyncpg's own "connection is closed" (an InterfaceError with no SQLSTATE) is what a
    # unit of work meets on a connection the server killed: a 503, never a 500.
    session = SQLAlchemySession(POSTGRESQL_URL)
    async with session.connection() as connection:
        driver = driver_connection(connection)
        await driver.close()
        with pytest.raises(Exception, match="connection is closed") as raised:
            await driver.fetch("SELECT 1")
        await connection.invalidate()
    await session.disconnect()

    translated = translate_error(raised.value, session.dialect, None)

    assert isinstance(translated, DatabaseUnavailableError)


async def transaction_open_after_a_statement(connection: AsyncConnection) -> bool:
    """Whether the server holds a transaction open after one statement through SQLAlchemy
    (the status it sends with every ReadyForQuery, which asyncpg reports)."""
    await connection.execute(text("SELECT 1"))
    return bool(driver_connection(connection).is_in_transaction())


async def test_on_postgresql_lone_statements_run_in_autocommit_and_units_of_work_do_not() -> None:
    async with SQLAlchemySession(POSTGRESQL_URL, pool_size=1, max_overflow=0) as session:
        async with session.connection() as connection:  # one pooled connection for all
            read = await transaction_open_after_a_statement(connection)
        async with UnitOfWork(session) as uow:
            async with uow.connection() as connection:
                in_unit_of_work = await transaction_open_after_a_statement(connection)
            await uow.commit()
        async with session.statement() as connection:
            write = await transaction_open_after_a_statement(connection)

    assert [read, in_unit_of_work, write] == [False, True, False]

"""The driver path: hot statements skip SQLAlchemy's execute, and nothing else changes.

The contract suite runs on PostgreSQL, SQLite and MariaDB with the path on, so values, errors and
managed columns are proven there; these tests prove the path is taken, and when it is not.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, delete, event
from sqlalchemy.ext.asyncio import AsyncConnection

from fastapi_building_blocks import (
    CommitOutcomeUnknownError,
    ConflictError,
    DatabaseUnavailableError,
    Filter,
    RepositoryError,
    SQLAlchemyRepository,
    SQLAlchemySession,
    UnitOfWork,
    uuid7,
)
from fastapi_building_blocks.dialects.mysql import MySQLDialect
from tests.backends import MARIADB_URL, POSTGRESQL_URL, sqlite_url
from tests.contract.conftest import make_thing
from tests.database.test_session import LOST_CONNECTION, kill_idle_pooled_connection
from tests.schema import Parent, SQLParents, SQLThings, key_of, schema


@pytest.fixture(params=["postgresql", "sqlite", "mariadb"])
async def session(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[SQLAlchemySession]:
    servers = {"postgresql": POSTGRESQL_URL, "mariadb": MARIADB_URL}
    url = servers.get(request.param) or sqlite_url(tmp_path)
    async with SQLAlchemySession(url) as session:
        await empty_tables(session)
        yield session


async def empty_tables(session: SQLAlchemySession) -> None:
    async with session.transaction() as connection:
        await connection.run_sync(schema.create_all)
        for table in reversed(schema.sorted_tables):
            await connection.execute(delete(table))


@pytest.fixture
def sqlalchemy_executions(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every statement that went through SQLAlchemy's `AsyncConnection.execute`."""
    seen: list[Any] = []
    execute = AsyncConnection.execute

    async def counting(self: AsyncConnection, statement: Any, *args: Any, **kw: Any) -> Any:
        seen.append(statement)
        return await execute(self, statement, *args, **kw)

    monkeypatch.setattr(AsyncConnection, "execute", counting)
    return seen


async def test_get_create_update_delete_by_key_skip_sqlalchemys_execute(
    session: SQLAlchemySession, sqlalchemy_executions: list[Any]
) -> None:
    things = SQLThings(session)
    thing = make_thing(1)

    created = await things.create(thing)
    fetched = await things.get(thing.id)
    updated = await things.update(replace(thing, score=99, payload={"changed": True}))
    await things.delete(thing.id)

    assert created == thing
    assert fetched == thing
    assert updated.score == 99
    assert await things.get(thing.id) is None
    assert sqlalchemy_executions == []


async def test_bulk_create_sends_its_batches_straight_to_the_driver(
    session: SQLAlchemySession, sqlalchemy_executions: list[Any]
) -> None:
    things = SQLThings(session)
    rows = [make_thing(n) for n in range(250)]

    inserted = await things.bulk_create(rows, batch_size=100)

    assert inserted == 250
    assert sqlalchemy_executions == []  # PostgreSQL: COPY; the others: the driver's executemany
    assert [await things.get(thing.id) for thing in rows[::25]] == rows[::25]


async def test_a_key_generated_by_the_database_comes_back_through_returning(
    session: SQLAlchemySession, sqlalchemy_executions: list[Any]
) -> None:
    parents = SQLParents(session)

    first = await parents.create(Parent(label="first"))
    second = await parents.create(Parent(label="second"))

    assert first.id is not None
    assert second.id == first.id + 1
    assert await parents.get(second.id) == second
    assert sqlalchemy_executions == []


@contextmanager
def statements_seen(session: SQLAlchemySession) -> Iterator[list[str]]:
    """The first word of each statement SQLAlchemy's `before_cursor_execute` sees."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement.split()[0])

    event.listen(session.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(session.engine.sync_engine, "before_cursor_execute", record)


async def test_anything_listening_to_statements_sees_every_one(
    session: SQLAlchemySession,
) -> None:
    with statements_seen(session) as statements:
        assert session.driver_path is None
        things = SQLThings(session)
        thing = await things.create(make_thing(2))
        await things.get(thing.id)
        await things.update(replace(thing, score=7))
        await things.delete(thing.id)

    assert statements == ["INSERT", "SELECT", "UPDATE", "DELETE"]
    assert session.driver_path is not None  # the listener gone, the path is back


defaults = MetaData()
labelled = Table(
    "driver_path_labelled",
    defaults,
    Column("id", Integer, primary_key=True),
    Column("label", String(20), nullable=False),
    Column("code", String(20), nullable=False, default=lambda: "from-python"),
)


@dataclass
class Labelled:
    label: str
    id: int | None = None


class SQLLabelled(SQLAlchemyRepository[Labelled, int]):
    table = labelled


@pytest.fixture
async def labelled_table(session: SQLAlchemySession, sqlalchemy_executions: list[Any]) -> None:
    async with session.transaction() as connection:
        await connection.run_sync(defaults.drop_all)
        await connection.run_sync(defaults.create_all)
    sqlalchemy_executions.clear()


async def test_a_column_default_computed_in_python_sends_the_insert_the_normal_way(
    session: SQLAlchemySession, labelled_table: None, sqlalchemy_executions: list[Any]
) -> None:
    created = await SQLLabelled(session).create(Labelled(label="x"))

    assert [type(statement).__name__ for statement in sqlalchemy_executions] == ["Insert"]
    async with session.connection() as connection:
        code = (await connection.execute(labelled.select())).one().code
    assert created.id is not None
    assert code == "from-python"


async def test_a_bulk_create_that_needs_a_python_default_goes_the_normal_way(
    session: SQLAlchemySession, labelled_table: None, sqlalchemy_executions: list[Any]
) -> None:
    await SQLLabelled(session).bulk_create([Labelled(label=f"l{n}") for n in range(3)])

    assert [type(statement).__name__ for statement in sqlalchemy_executions] == ["Insert"]
    async with session.connection() as connection:
        rows = (await connection.execute(labelled.select())).all()
    assert [row.code for row in rows] == ["from-python"] * 3


@pytest.mark.parametrize(("url", "who", "kill"), LOST_CONNECTION)
async def test_a_connection_that_died_is_unavailable_then_replaced(
    url: str, who: str, kill: str
) -> None:
    async with SQLAlchemySession(url, pool_size=2, max_overflow=0, pool_pre_ping=False) as session:
        await empty_tables(session)
        await kill_idle_pooled_connection(session, who, kill)
        things = SQLThings(session)
        assert session.driver_path is not None

        with pytest.raises(DatabaseUnavailableError, match="things"):
            await things.get(uuid7())

        for _ in range(3):  # more than the pool holds: the dead connection has left it
            assert await things.get(uuid7()) is None


async def test_pages_with_a_filter_and_a_sort_skip_sqlalchemys_execute(
    session: SQLAlchemySession, sqlalchemy_executions: list[Any]
) -> None:
    things = SQLThings(session)
    await things.bulk_create([make_thing(n) for n in range(30)])
    sqlalchemy_executions.clear()

    page = await things.search(
        [Filter("category", "eq", "alpha")], sort=["-score"], page=2, page_size=4
    )
    first = await things.keyset_page(sort=["-score"], limit=10)
    second = await things.keyset_page(sort=["-score"], limit=10, cursor=first.next_cursor)

    assert page.total == 10
    assert [thing.score for thing in page.items] == [15, 12, 9, 6]
    assert [thing.score for thing in second.items] == list(range(19, 9, -1))
    assert sqlalchemy_executions == []


async def test_an_in_list_is_rendered_by_sqlalchemy_so_it_takes_the_normal_path(
    session: SQLAlchemySession, sqlalchemy_executions: list[Any]
) -> None:
    things = SQLThings(session)
    await things.bulk_create([make_thing(n) for n in range(5)])
    sqlalchemy_executions.clear()

    found = await things.list([Filter("score", "in", [1, 3])])

    assert sorted(thing.score for thing in found) == [1, 3]
    assert len(sqlalchemy_executions) == 1


async def test_a_unit_of_work_takes_the_driver_path_inside_its_transaction(
    session: SQLAlchemySession, sqlalchemy_executions: list[Any]
) -> None:
    parents = SQLParents(session)
    kept = await parents.create(Parent(label="committed before"))

    async with UnitOfWork(session) as uow:
        in_work = SQLParents(uow)
        await in_work.create(Parent(label="rolled back"))
        assert await in_work.count() == 2  # its own write, seen inside the transaction
        current = await in_work.get_by_id(key_of(kept))
        await in_work.update(current.model_copy(update={"label": "changed"}))
        # no commit: everything above is undone

    assert sqlalchemy_executions == []  # every statement went to the driver
    assert [parent.label for parent in await parents.list()] == ["committed before"]


async def test_a_unit_of_work_begins_again_on_the_driver_path_after_a_commit(
    session: SQLAlchemySession,
) -> None:
    async with UnitOfWork(session) as uow:
        in_work = SQLParents(uow)
        await in_work.create(Parent(label="first, committed"))
        await uow.commit()
        await in_work.create(Parent(label="second, rolled back"))

    labels = [parent.label for parent in await SQLParents(session).list()]
    assert labels == ["first, committed"]


@pytest.mark.parametrize("session", ["mariadb"], indirect=True)
async def test_on_mariadb_a_unit_of_works_begin_travels_with_its_first_statement(
    session: SQLAlchemySession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BEGIN and the first INSERT are both written before either reply is read: the
    transaction's start costs no round trip of its own. The COMMIT waits for its reply."""
    from fastapi_building_blocks.dialects.aiomysql_connection import AnsweringConnection

    wire: list[str] = []
    connection_type = AnsweringConnection  # the class the package connects with
    send = connection_type._execute_command
    receive, receive_ok = connection_type._read_query_result, connection_type._read_ok_packet

    async def sending(self: Any, command: int, sql: str | bytes) -> Any:
        text = sql.decode() if isinstance(sql, bytes) else sql
        wire.append("send " + text.split()[0].upper())
        return await send(self, command, sql)

    async def receiving(self: Any, *args: Any, **kwargs: Any) -> Any:
        wire.append("read")
        return await receive(self, *args, **kwargs)

    async def receiving_ok(self: Any) -> Any:  # how aiomysql reads COMMIT's reply
        wire.append("read")
        return await receive_ok(self)

    parents = SQLParents(session)
    await parents.count()  # a pooled connection, already set up
    monkeypatch.setattr(connection_type, "_execute_command", sending)
    monkeypatch.setattr(connection_type, "_read_query_result", receiving)
    monkeypatch.setattr(connection_type, "_read_ok_packet", receiving_ok)
    async with UnitOfWork(session) as uow:
        await SQLParents(uow).create(Parent(label="one write"))
        await uow.commit()
    monkeypatch.undo()

    assert wire == ["send BEGIN", "send INSERT", "read", "read", "send COMMIT", "read"]
    assert [parent.label for parent in await parents.list()] == ["one write"]


@pytest.mark.parametrize("session", ["mariadb"], indirect=True)
async def test_a_first_statement_refused_with_its_begin_leaves_a_usable_unit_of_work(
    session: SQLAlchemySession,
) -> None:
    """A duplicate key on the INSERT that carried BEGIN: the error is the usual one, the
    unit of work rolls back and goes on in a new transaction on the same connection."""
    parents = SQLParents(session)
    existing = await parents.create(Parent(label="exists"))

    async with UnitOfWork(session) as uow:
        in_work = SQLParents(uow)
        with pytest.raises(ConflictError):
            await in_work.create(existing)
        await uow.rollback()
        await in_work.create(Parent(label="after the rollback"))
        await uow.commit()

    assert sorted(parent.label for parent in await parents.list()) == [
        "after the rollback",
        "exists",
    ]


@pytest.mark.parametrize("session", ["mariadb"], indirect=True)
async def test_a_statement_that_ran_alone_after_a_refused_begin_is_not_reported_failed(
    session: SQLAlchemySession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were the server to refuse the BEGIN, the INSERT sent with it would run and commit
    in autocommit: the caller hears "outcome unknown", and the row is indeed stored. A
    BEGIN with a syntax error stands in for the refusal."""
    parents = SQLParents(session)
    monkeypatch.setattr(MySQLDialect, "begin_statement", "BEGIN NOT VALID")
    async with UnitOfWork(session) as uow:
        with pytest.raises(CommitOutcomeUnknownError):
            await SQLParents(uow).create(Parent(label="ran alone"))
    monkeypatch.undo()

    assert [parent.label for parent in await parents.list()] == ["ran alone"]


@pytest.mark.parametrize("session", ["mariadb"], indirect=True)
async def test_a_refused_begin_with_a_refused_statement_reports_the_failure(
    session: SQLAlchemySession, monkeypatch: pytest.MonkeyPatch
) -> None:
    parents = SQLParents(session)
    existing = await parents.create(Parent(label="exists"))
    monkeypatch.setattr(MySQLDialect, "begin_statement", "BEGIN NOT VALID")
    async with UnitOfWork(session) as uow:
        with pytest.raises(RepositoryError) as refused:
            await SQLParents(uow).create(existing)
    monkeypatch.undo()

    assert not isinstance(refused.value, CommitOutcomeUnknownError)
    assert [parent.label for parent in await parents.list()] == ["exists"]


async def test_a_listener_registered_in_a_unit_of_work_sees_its_statements_after_the_commit(
    session: SQLAlchemySession,
) -> None:
    async with UnitOfWork(session) as uow:
        in_work = SQLParents(uow)
        await in_work.create(Parent(label="before the listener"))
        with statements_seen(session) as statements:
            await uow.commit()  # the executor is chosen again with the next transaction
            await in_work.create(Parent(label="after the commit"))
            await uow.commit()

    assert "INSERT" in statements

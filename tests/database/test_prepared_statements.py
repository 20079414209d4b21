"""PostgreSQL's driver path prepares each statement once per pooled connection and keeps
it: a bounded number of them, and prepared again once the table changes under one."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from sqlalchemy import text

from fastapi_building_blocks import ConcurrencyError, Filter, SQLAlchemySession, UnitOfWork
from fastapi_building_blocks.dialects.postgresql import MAX_PREPARED_PER_CONNECTION
from tests.backends import POSTGRESQL_URL
from tests.database.test_answer_bound import empty_session
from tests.schema import Parent, SQLParents, SQLThings, key_of

SORTABLE = ["name", "category", "score", "price", "active", "happened_at", "rank", "id"]
OPERATORS = ["eq", "ne", "lt", "le", "gt", "ge"]


async def prepared_on_the_server(session: SQLAlchemySession) -> int:
    async with session.connection() as connection:
        found = await connection.execute(text("SELECT count(*) FROM pg_prepared_statements"))
        return int(found.scalar_one())


async def test_a_connection_keeps_a_bounded_number_of_prepared_statements() -> None:
    """Each query shape is its own statement; callers may ask for many."""
    async with await empty_session(POSTGRESQL_URL, pool_size=1) as session:
        things = SQLThings(session)
        shapes: list[tuple[list[Any], list[str]]] = [
            ([Filter("score", operator, 1)] if operator else [], [f"{direction}{field}"])
            for operator, field, direction in itertools.product(
                [None, *OPERATORS], SORTABLE, ["", "-"]
            )
        ]
        assert len(shapes) > MAX_PREPARED_PER_CONNECTION
        for filters, sort in shapes:
            await things.list(filters, sort=sort, limit=5)
        kept = await prepared_on_the_server(session)

    assert kept <= MAX_PREPARED_PER_CONNECTION


async def test_on_postgresql_a_statement_prepared_before_its_table_changed_runs_again() -> None:
    """A prepared statement is kept per connection; once the table's columns change
    under it, the server refuses it, and outside a transaction it is prepared again."""
    async with await empty_session(POSTGRESQL_URL, pool_size=1) as session:
        repository = SQLParents(session)
        created = await repository.create(Parent(label="before"))
        assert (await repository.get_by_id(key_of(created))).label == "before"
        async with session.transaction() as connection:
            await connection.execute(text("ALTER TABLE parents ALTER COLUMN label TYPE text"))
        try:
            again = await repository.get_by_id(key_of(created))
        finally:
            async with session.transaction() as connection:
                await connection.execute(
                    text("ALTER TABLE parents ALTER COLUMN label TYPE varchar(50)")
                )

    assert again.label == "before"


async def test_on_postgresql_a_table_changed_under_a_unit_of_work_is_a_conflict_to_retry() -> None:
    """Inside a transaction the statement cannot be prepared again: the unit of work fails
    with the error a collision with a concurrent change gets (409, retry), not a 500, and
    the next one runs."""
    async with await empty_session(POSTGRESQL_URL, pool_size=1) as session:
        repository = SQLParents(session)
        key = key_of(await repository.create(Parent(label="before")))
        await repository.get_by_id(key)  # prepared on the one pooled connection
        async with session.transaction() as connection:
            await connection.execute(text("ALTER TABLE parents ALTER COLUMN label TYPE text"))
        try:
            with pytest.raises(ConcurrencyError):
                async with UnitOfWork(session) as uow:
                    await SQLParents(uow).get_by_id(key)
            async with UnitOfWork(session) as uow:
                again = await SQLParents(uow).get_by_id(key)
        finally:
            async with session.transaction() as connection:
                await connection.execute(
                    text("ALTER TABLE parents ALTER COLUMN label TYPE varchar(50)")
                )

    assert again.label == "before"

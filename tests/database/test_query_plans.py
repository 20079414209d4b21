"""The SQL a repository emits for pages can use an index, on every backend (by EXPLAIN).

A page filtered on an indexed column and a boolean, sorted by the index's second column:
the shape that ran 5x slower elsewhere when a boolean became `IS true`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import Boolean, Column, Index, Integer, String, Table, event

from fastapi_building_blocks import (
    Filter,
    SQLAlchemyRepository,
    SQLAlchemySession,
    metadata,
    uuid7,
    uuid_primary_key,
)
from tests.backends import MARIADB_URL, POSTGRESQL_URL, sqlite_url

plans = metadata()
orders = Table(
    "plan_orders",
    plans,
    uuid_primary_key(),
    Column("region", String(20), nullable=False),
    Column("amount", Integer, nullable=False),
    Column("paid", Boolean, nullable=False),
    Index("ix_plan_orders_region_amount", "region", "amount"),
)


@dataclass
class Order:
    region: str
    amount: int
    paid: bool
    id: uuid.UUID = field(default_factory=uuid7)


class Orders(SQLAlchemyRepository[Order, uuid.UUID]):
    table = orders


ANALYZE = {"postgresql": "ANALYZE plan_orders", "mysql": "ANALYZE TABLE plan_orders"}
EXPLAIN = {"postgresql": "EXPLAIN ", "mysql": "EXPLAIN ", "sqlite": "EXPLAIN QUERY PLAN "}
PAGE_FILTERS = [Filter("region", "eq", "r7"), Filter("paid", "eq", True)]


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "mariadb"])
async def session(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[SQLAlchemySession]:
    urls = {"postgresql": POSTGRESQL_URL, "mariadb": MARIADB_URL}
    url = urls.get(request.param) or sqlite_url(tmp_path_factory.mktemp("plans"))
    async with SQLAlchemySession(url) as session:
        async with session.transaction() as connection:
            await connection.run_sync(plans.drop_all)
            await connection.run_sync(plans.create_all)
        await Orders(session).bulk_create(
            [Order(region=f"r{n % 50}", amount=n % 997, paid=n % 3 != 0) for n in range(20_000)]
        )
        if (analyze := ANALYZE.get(session.dialect.name)) is not None:
            async with session.statement() as connection:
                await connection.exec_driver_sql(analyze)
        yield session
        async with session.transaction() as connection:
            await connection.run_sync(plans.drop_all)


async def emitted(session: SQLAlchemySession, call: Any) -> list[tuple[str, Any]]:
    """The statements `call` sends, with their parameters."""
    sent: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    event.listen(session.engine.sync_engine, "before_cursor_execute", record)
    try:
        await call()
    finally:
        event.remove(session.engine.sync_engine, "before_cursor_execute", record)
    return sent


async def plan_of(session: SQLAlchemySession, statement: str, parameters: Any) -> str:
    async with session.connection() as connection:
        result = await connection.exec_driver_sql(
            EXPLAIN[session.dialect.name] + statement, parameters
        )
        return "\n".join(" ".join(map(str, row)) for row in result)


async def test_an_offset_page_uses_the_index_for_its_filter(session: SQLAlchemySession) -> None:
    orders_repository = Orders(session)

    sent = await emitted(
        session, lambda: orders_repository.search(PAGE_FILTERS, sort=["-amount"], page=3)
    )

    for statement, parameters in sent:
        assert "ix_plan_orders_region_amount" in await plan_of(session, statement, parameters)


#: How each EXPLAIN says the index range starts at the cursor's amount, not at the top.
RANGE_FROM_CURSOR = {
    "sqlite": "(region=? AND amount<?)",
    "postgresql": "AND (amount <= ",
    "mysql": "range",
}


async def test_a_keyset_page_starts_its_index_range_at_the_cursor(
    session: SQLAlchemySession,
) -> None:
    orders_repository = Orders(session)
    first = await orders_repository.keyset_page(PAGE_FILTERS, sort=["-amount"], limit=50)

    [(statement, parameters)] = await emitted(
        session,
        lambda: orders_repository.keyset_page(
            PAGE_FILTERS, sort=["-amount"], limit=50, cursor=first.next_cursor
        ),
    )

    plan = await plan_of(session, statement, parameters)
    assert "ix_plan_orders_region_amount" in plan
    assert RANGE_FROM_CURSOR[session.dialect.name] in plan
    assert "filesort" not in plan  # MariaDB: ties broken the index's way, no sort at all


#: How each EXPLAIN says it sorts every matching row (not just ties within one amount).
FULL_SORT = {
    "sqlite": r"USE TEMP B-TREE FOR ORDER BY",
    "postgresql": r"(?<!Incremental )Sort  \(",
    "mysql": r"filesort",
}


async def test_a_descending_offset_page_reads_the_index_in_order(
    session: SQLAlchemySession,
) -> None:
    orders_repository = Orders(session)

    sent = await emitted(
        session, lambda: orders_repository.search(PAGE_FILTERS, sort=["-amount"], page=3)
    )

    [page_plan] = [
        await plan_of(session, statement, parameters)
        for statement, parameters in sent
        if "ORDER BY" in statement
    ]
    assert "ix_plan_orders_region_amount" in page_plan
    assert re.search(FULL_SORT[session.dialect.name], page_plan) is None


async def test_booleans_are_compared_with_equals_not_is(session: SQLAlchemySession) -> None:
    orders_repository = Orders(session)

    sent = await emitted(session, lambda: orders_repository.list(PAGE_FILTERS, limit=5))

    [(statement, _)] = sent
    assert " IS " not in statement.upper().replace("IS NULL", "")
    assert "paid =" in statement

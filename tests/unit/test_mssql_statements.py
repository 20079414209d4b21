"""SQL Server has no server here: the statements the repository emits are compiled with
the mssql dialect and checked. With MSSQL_URL set, the contract suite also runs live."""

from __future__ import annotations

import re
import uuid
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, Table
from sqlalchemy.dialects.mssql.aioodbc import MSDialectAsync_aioodbc
from sqlalchemy.ext.asyncio import AsyncConnection

from fastapi_building_blocks import DatabaseSession, Filter
from fastapi_building_blocks.database.executor import CoreStatement
from fastapi_building_blocks.dialects import Conflict, dialect_named
from fastapi_building_blocks.repository.query import UNSORTED
from tests.schema import SQLThings, things


class CompileOnlySession(DatabaseSession):
    """A session for SQL Server that builds statements but has nowhere to send them."""

    dialect = dialect_named("mssql")
    system_name = "microsoft.sql_server"
    database_name = "app"
    pool_name = "mssql+aioodbc://app"

    def connection(self) -> AbstractAsyncContextManager[AsyncConnection]:
        raise AssertionError("compile-only: nothing may run")

    def statement(self) -> AbstractAsyncContextManager[AsyncConnection]:
        raise AssertionError("compile-only: nothing may run")

    def transaction(self) -> AbstractAsyncContextManager[AsyncConnection]:
        raise AssertionError("compile-only: nothing may run")


repository = SQLThings(CompileOnlySession())


def sql_server_2022() -> MSDialectAsync_aioodbc:
    """The dialect as a live connection leaves it: version known, so OFFSET/FETCH is used."""
    dialect = MSDialectAsync_aioodbc()  # type: ignore[no-untyped-call]
    dialect.server_version_info = (16, 0)  # type: ignore[assignment]
    dialect._setup_version_attributes()  # type: ignore[no-untyped-call]
    return dialect


DIALECT = sql_server_2022()


def sql(statement: Any) -> str:
    """Compiled SQL on one line, each bound parameter shown as `?`."""
    if isinstance(statement, CoreStatement):  # as the repository prepared it for SQLAlchemy
        statement = statement.statement
    text = str(statement.compile(dialect=DIALECT))
    return re.sub(r"\s+", " ", re.sub(r":\w+", "?", text)).strip()


def select_sql(filters: list[Filter], sort: list[str], **page: Any) -> str:
    checked = repository._policy.check_filters(filters)
    order = repository._policy.check_sort(sort)
    statement, _ = repository._select(
        checked, order, page.get("limit"), page.get("offset", 0), page.get("after")
    )
    return sql(statement)


def test_an_offset_page_uses_offset_fetch_after_an_order_by() -> None:
    text = select_sql([Filter("score", "gt", 3)], ["-score"], limit=50, offset=100)

    assert "WHERE things.score > ? ORDER BY things.score DESC, things.id" in text
    assert text.endswith(
        "OFFSET __[POSTCOMPILE_offset] ROWS FETCH FIRST __[POSTCOMPILE_limit] ROWS ONLY"
    )


def test_a_first_page_fetches_from_offset_zero() -> None:
    text = select_sql([], ["name"], limit=20)

    assert text.endswith("OFFSET 0 ROWS FETCH FIRST __[POSTCOMPILE_limit] ROWS ONLY")


def test_a_limited_query_without_sort_is_ordered_by_key() -> None:
    # find_one and exists: SQL Server's OFFSET/FETCH is invalid without an ORDER BY.
    statement, _ = repository._select(
        repository._policy.check_filters([Filter("score", "eq", 1)]), UNSORTED, 2, 0, None
    )

    assert "ORDER BY things.id ASC OFFSET 0 ROWS" in sql(statement)


def test_nullable_sort_keys_need_no_nulls_clause_on_sql_server() -> None:
    # SQL Server, like the contract, sorts NULL first ascending: no NULLS FIRST emitted.
    assert "NULLS" not in select_sql([], ["rank", "-rank"][:1], limit=5)


@pytest.mark.parametrize(
    ("filter_", "fragment"),
    [
        (Filter("score", "eq", 1), "things.score = ?"),
        (Filter("score", "ne", 1), "things.score != ?"),
        (Filter("score", "le", 1), "things.score <= ?"),
        (Filter("score", "in", [1, 2]), "things.score IN (__[POSTCOMPILE_f0])"),
        (Filter("score", "not_in", [1]), "(things.score NOT IN (__[POSTCOMPILE_f0]))"),
        (Filter("score", "between", [1, 2]), "things.score BETWEEN ? AND ?"),
        (Filter("note", "like", "a%"), "lower(things.note) LIKE lower(?)"),
        (
            Filter("note", "contains", "5%"),
            "lower(things.note) LIKE lower(?) ESCAPE '/'",
        ),
        (Filter("note", "startswith", "a"), "lower(things.note) LIKE lower(?) ESCAPE '/'"),
        (Filter("rank", "is_null", True), "things.rank IS NULL"),
        (Filter("active", "eq", True), "things.active = ?"),
        (Filter("price", "ge", Decimal("1.5")), "things.price >= ?"),
    ],
    ids=lambda value: value.op if isinstance(value, Filter) else None,
)
def test_every_operator_compiles_to_bound_parameters(filter_: Filter, fragment: str) -> None:
    assert fragment in select_sql([filter_], [], limit=None)


def test_a_keyset_page_starts_after_the_cursor_values() -> None:
    order = repository._policy.check_sort(["-rank"])
    statement, _ = repository._select([], order, 21, 0, [None, uuid.uuid4()])

    text = sql(statement)

    # After a NULL rank in descending order only rows with NULL rank and a smaller id follow:
    # ties go the way of the last sort key.
    assert "WHERE things.rank IS NULL AND things.id < ?" in text
    assert "ORDER BY things.rank DESC, things.id DESC" in text


def test_a_keyset_page_bounds_its_first_sort_key_for_the_index() -> None:
    order = repository._policy.check_sort(["score"])
    statement, _ = repository._select([], order, 21, 0, [7, uuid.uuid4()])

    text = sql(statement)

    assert (
        "WHERE things.score >= ? AND (things.score > ? OR things.score = ? AND things.id > ?)"
        in text
    )


def test_count_is_one_aggregate_statement() -> None:
    checked = repository._policy.check_filters([Filter("category", "eq", "alpha")])

    assert sql(repository._count_statement(checked)[0]) == (
        "SELECT count(*) AS count_1 FROM things WHERE things.category = ?"
    )


def test_upsert_is_a_merge_on_the_conflict_columns() -> None:
    statement = CompileOnlySession.dialect.upsert(
        things, {"id": "k", "name": "n", "score": 1}, Conflict(["id"], ["name", "score"])
    )

    text = sql(statement)

    assert text == (
        "MERGE INTO things WITH (HOLDLOCK) AS target USING (VALUES (?, ?, ?)) "
        "AS source (id, name, score) ON target.id = source.id "
        "WHEN MATCHED THEN UPDATE SET target.name = source.name, target.score = source.score "
        "WHEN NOT MATCHED THEN INSERT (id, name, score) "
        "VALUES (source.id, source.name, source.score);"
    )


def test_upsert_quotes_reserved_names() -> None:
    reserved = Table(
        "order", MetaData(), Column("key", Integer, primary_key=True), Column("select", Integer)
    )

    conflict = Conflict(["key"], ["select"])
    statement = CompileOnlySession.dialect.upsert(reserved, {"key": 1, "select": 2}, conflict)

    assert sql(statement).startswith("MERGE INTO [order] WITH (HOLDLOCK)")
    assert "target.[select] = source.[select]" in sql(statement)


def test_upsert_increments_the_version_of_an_existing_row() -> None:
    conflict = Conflict(["id"], ["name"], increment="rank")

    statement = CompileOnlySession.dialect.upsert(
        things, {"id": "k", "name": "n", "rank": 1}, conflict
    )

    assert "UPDATE SET target.name = source.name, target.rank = target.rank + 1" in sql(statement)

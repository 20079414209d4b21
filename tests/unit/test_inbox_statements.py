"""How each dialect records a batch of deliveries in the inbox and names a list of keys:
compiled here, so SQL Server (no server here) and old SQLite are covered too. The live
behaviour is in tests/outbox."""

from __future__ import annotations

import re

import pytest
from sqlalchemy.dialects import mssql, mysql, postgresql, sqlite
from sqlalchemy.engine import Dialect as SQLAlchemyDialect

from fastapi_building_blocks.dialects import dialect_named
from fastapi_building_blocks.outbox import INBOX, OUTBOX

POSTGRESQL: SQLAlchemyDialect = postgresql.dialect()  # type: ignore[no-untyped-call]
SQLITE: SQLAlchemyDialect = sqlite.dialect()
MYSQL: SQLAlchemyDialect = mysql.dialect()
MARIADB: SQLAlchemyDialect = mysql.dialect(is_mariadb=True)
MSSQL: SQLAlchemyDialect = mssql.dialect()  # type: ignore[no-untyped-call]


def one_line(statement: object, dialect: SQLAlchemyDialect) -> str:
    compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    return re.sub(r"\s+", " ", str(compiled)).strip()


@pytest.mark.parametrize(
    ("name", "sqlalchemy_dialect"),
    [("postgresql", POSTGRESQL), ("sqlite", SQLITE)],
)
def test_where_the_database_can_the_inbox_skips_recorded_keys_and_returns_the_new_ones(
    name: str, sqlalchemy_dialect: SQLAlchemyDialect
) -> None:
    statement = dialect_named(name).insert_new(INBOX, sqlalchemy_dialect)

    text = one_line(statement, sqlalchemy_dialect)
    assert text.startswith("INSERT INTO inbox (handler, message_id, received_at) VALUES")
    assert re.search(
        r"ON CONFLICT DO NOTHING RETURNING (inbox\.)?handler, (inbox\.)?message_id$", text
    )


@pytest.mark.parametrize(
    ("name", "sqlalchemy_dialect"),
    [("mysql", MYSQL), ("mariadb", MARIADB),
     ("mssql", MSSQL)],
)  # fmt: skip
def test_elsewhere_the_inbox_is_read_then_written(
    name: str, sqlalchemy_dialect: SQLAlchemyDialect
) -> None:
    """MySQL's INSERT IGNORE would skip duplicates but silence every other error too."""
    assert dialect_named(name).insert_new(INBOX, sqlalchemy_dialect) is None


def test_sqlite_without_returning_reads_then_writes() -> None:
    before_returning: SQLAlchemyDialect = sqlite.dialect()
    before_returning.insert_returning = False  # SQLite before 3.35

    assert dialect_named("sqlite").insert_new(INBOX, before_returning) is None


def test_postgresql_binds_a_list_of_keys_as_one_array() -> None:
    condition = dialect_named("postgresql").in_list(OUTBOX.c.id, "ids")

    assert one_line(condition, POSTGRESQL) == "outbox.id = ANY (%(ids)s::UUID[])"


@pytest.mark.parametrize(
    ("name", "sqlalchemy_dialect"),
    [("sqlite", SQLITE), ("mysql", MYSQL), ("mssql", MSSQL)],
)
def test_elsewhere_a_list_of_keys_expands_into_in(
    name: str, sqlalchemy_dialect: SQLAlchemyDialect
) -> None:
    condition = dialect_named(name).in_list(OUTBOX.c.id, "ids")

    assert "IN (__[POSTCOMPILE_ids])" in one_line(condition, sqlalchemy_dialect)

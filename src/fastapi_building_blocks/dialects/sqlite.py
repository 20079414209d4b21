"""SQLite through aiosqlite: an embedded file database for development and small services."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL
from sqlalchemy.engine import Dialect as SQLAlchemyDialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeEngine

from ..records import Records
from .base import (
    Conflict,
    Diagnosis,
    Dialect,
    EngineOptions,
    Failure,
    first_match,
    on_conflict_skip,
    on_conflict_upsert,
    quoted_names,
)
from .driver_path import DriverPath, DriverStatement, driver_connection


def is_memory_database(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"


class SQLiteDialect(Dialect):
    name = "sqlite"
    system_name = "sqlite"
    async_driver = "aiosqlite"
    extra = "sqlite"
    #: The driver runs in autocommit (see on_connect).
    begins_transactions_itself = True
    #: A deferred transaction that reads and then writes, while another connection
    #: writes, fails at once with "database is locked": SQLite cannot wait there without
    #: risking a deadlock. Taking the write lock at BEGIN makes concurrent transactions
    #: wait their turn in the busy timeout instead; in WAL mode readers are not blocked.
    begin_statement = "BEGIN IMMEDIATE"
    one_writer = True
    stores_naive_utc = True

    def datetime_type(self) -> TypeEngine[Any]:
        return sqlite.DATETIME()  # type: ignore[no-untyped-call]

    def engine_arguments(self, url: URL, options: EngineOptions) -> dict[str, Any]:
        if is_memory_database(url):
            # One shared connection, or every checkout would see its own empty database.
            return {
                "poolclass": StaticPool,
                "echo": options.echo,
                "connect_args": {"check_same_thread": False, **options.connect_args},
            }
        return super().engine_arguments(url, options)

    def on_connect(self, dbapi_connection: Any, options: EngineOptions) -> None:
        # Leave BEGIN to the engine (see begins_transactions_itself): the sqlite3 module's
        # own transaction handling defers BEGIN and breaks SAVEPOINT.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        # SQLite has no statement timeout; what makes a statement wait is another writer's
        # lock, and the busy timeout bounds that wait.
        cursor.execute(f"PRAGMA busy_timeout = {int(options.statement_timeout * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    def ping(self, dbapi_connection: Any) -> bool:
        # A local file cannot drop a pooled connection the way a server can: a ping would
        # only cost a hop through aiosqlite's thread on every checkout.
        return True

    def needs_reset(self, dbapi_connection: Any, transaction_ended: bool) -> bool:
        # sqlite3 knows exactly (outside a transaction no statement holds a lock once
        # it is done); its ROLLBACK would cost a hop to aiosqlite's thread for nothing.
        return bool(dbapi_connection.driver_connection.in_transaction)

    def upsert(self, table: Table, values: Mapping[str, Any], conflict: Conflict) -> Any:
        return on_conflict_upsert(sqlite_insert(table).values(values), table, conflict)

    def insert_new(self, table: Table, dialect: SQLAlchemyDialect) -> Any:
        if not dialect.insert_returning:  # SQLite before 3.35 has no RETURNING
            return None
        return on_conflict_skip(sqlite_insert(table), table)

    def driver_path(self, dialect: SQLAlchemyDialect) -> DriverPath | None:
        return AiosqlitePath(dialect)

    def is_driver_error(self, error: BaseException) -> bool:
        return isinstance(error, sqlite3.Error)

    def diagnose(self, error: BaseException) -> Diagnosis | None:
        message = str(error)
        if message.startswith("UNIQUE constraint failed:") or message.startswith(
            "PRIMARY KEY constraint failed:"
        ):
            columns = message.split(":", 1)[1]
            return Diagnosis(Failure.UNIQUE, columns=_strip_table(quoted_names(columns)))
        if message.startswith("NOT NULL constraint failed:"):
            return Diagnosis(Failure.NOT_NULL, columns=_strip_table(quoted_names(message[27:])))
        if message.startswith("FOREIGN KEY constraint failed"):
            return Diagnosis(Failure.FOREIGN_KEY)
        if message.startswith("CHECK constraint failed"):
            return Diagnosis(Failure.CHECK, constraint=first_match(r"failed: (\S+)", message))
        if re.match(r"(database is locked|database table is locked)", message):
            return Diagnosis(Failure.CONCURRENCY)
        if message.startswith("unable to open database file"):
            return Diagnosis(Failure.UNAVAILABLE)
        return None


def _strip_table(qualified: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(name.rsplit(".", 1)[-1] for name in qualified)


class AiosqlitePath(DriverPath):
    """One hop to aiosqlite's thread per statement; the driver is in autocommit already."""

    async def fetch_all(
        self, connection: AsyncConnection, statement: DriverStatement, values: Mapping[str, Any]
    ) -> Records:
        if not statement.knows_result_types:  # SQLite reports no column types
            statement.learn_result_types([None] * len(statement.columns))
        driver = driver_connection(connection)
        records = await driver.execute_fetchall(statement.sql, statement.arguments(values))
        return statement.rows(records)

    async def execute(
        self, connection: AsyncConnection, statement: DriverStatement, values: Mapping[str, Any]
    ) -> int:
        cursor = await driver_connection(connection).execute(
            statement.sql, statement.arguments(values)
        )
        return int(cursor.rowcount)

    async def execute_many(
        self,
        connection: AsyncConnection,
        statement: DriverStatement,
        rows: Sequence[dict[str, Any]],
    ) -> bool:
        # The session sent BEGIN when the transaction began: this runs inside it.
        await driver_connection(connection).executemany(
            statement.sql, statement.arguments_many(rows)
        )
        return True

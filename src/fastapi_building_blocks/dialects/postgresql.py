"""PostgreSQL through asyncpg."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any
from uuid import UUID

from sqlalchemy import Table, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.engine import URL
from sqlalchemy.engine import Dialect as SQLAlchemyDialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.util import await_

from ..records import Records
from .answer_watch import AnswerWatch
from .base import (
    DRIVER_AUTOCOMMIT,
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
from .driver_path import (
    DriverPath,
    DriverStatement,
    discard_if_lost,
    driver_connection,
    pooled_connection,
    positional_rows,
)

#: SQLSTATE codes (PostgreSQL appendix A) and what they mean to the package.
_FAILURE_BY_SQLSTATE = {
    "23505": Failure.UNIQUE,
    "23503": Failure.FOREIGN_KEY,
    "23502": Failure.NOT_NULL,
    "23514": Failure.CHECK,
    "22001": Failure.INVALID_VALUE,  # string_data_right_truncation
    "22003": Failure.INVALID_VALUE,  # numeric_value_out_of_range
    "22021": Failure.INVALID_VALUE,  # character_not_in_repertoire (a NUL byte)
    "22P05": Failure.INVALID_VALUE,  # untranslatable_character
    "22025": Failure.INVALID_VALUE,  # invalid_escape_sequence
    "22007": Failure.INVALID_VALUE,  # invalid_datetime_format
    "22008": Failure.INVALID_VALUE,  # datetime_field_overflow
    "57014": Failure.TIMEOUT,  # query_canceled: statement_timeout
    "40001": Failure.CONCURRENCY,  # serialization_failure
    "40P01": Failure.CONCURRENCY,  # deadlock_detected
    "53300": Failure.UNAVAILABLE,  # too_many_connections
    "57P01": Failure.UNAVAILABLE,  # admin_shutdown
    "57P02": Failure.UNAVAILABLE,  # crash_shutdown
    "57P03": Failure.UNAVAILABLE,  # cannot_connect_now
    "3D000": Failure.LOGIN_REFUSED,  # invalid_catalog_name: the database does not exist
    "28P01": Failure.LOGIN_REFUSED,  # invalid_password
    "28000": Failure.LOGIN_REFUSED,  # invalid_authorization_specification
}


_WRITE_POSITION = "SELECT pg_current_wal_lsn()::text"
_REPLAYED = "SELECT pg_last_wal_replay_lsn() >= CAST($1::text AS pg_lsn)"
#: Time since the last transaction replayed, while WAL received is still unapplied: an
#: idle replica that has applied everything is 0 s behind, however old its last replay.
_REPLICA_LAG = (
    "SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
    " ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END"
)


class PostgreSQLDialect(Dialect):
    name = "postgresql"
    reads_utc_datetimes = True
    system_name = "postgresql"
    default_port = 5432
    async_driver = "asyncpg"
    extra = "postgres"
    nulls_sort_first = False
    #: asyncpg's autocommit is a flag on SQLAlchemy's adapter: no round trip to switch.
    #: Switched directly (`set_driver_autocommit`), not as SQLAlchemy's `isolation_level`
    #: option: its characteristics machinery sets and resets the level on every checkout,
    #: 25 µs a single-statement call (measured: a checkout and return 140 -> 115 µs).
    single_statement_options = MappingProxyType({DRIVER_AUTOCOMMIT: True})

    def set_driver_autocommit(self, dbapi_connection: Any, autocommit: bool) -> None:
        # The adapter's own property: "autocommit" as its isolation level, or back to
        # the level it was given; the adapter then sends no BEGIN of its own.
        dbapi_connection.autocommit = autocommit

    async def write_position(self, connection: AsyncConnection) -> str | None:
        return str((await connection.exec_driver_sql(_WRITE_POSITION)).scalar())

    async def has_replayed(self, connection: AsyncConnection, position: str) -> bool:
        return bool((await connection.exec_driver_sql(_REPLAYED, (position,))).scalar())

    def skips_locked_rows(self, dialect: SQLAlchemyDialect) -> bool:
        return True  # since 9.5

    def position_order(self, position: str) -> int | None:
        high, _, low = position.partition("/")  # an LSN: two 32-bit halves in hex
        return (int(high, 16) << 32) | int(low, 16)

    async def replica_lag(self, connection: AsyncConnection) -> float | None:
        lag = (await connection.exec_driver_sql(_REPLICA_LAG)).scalar()
        return None if lag is None else float(lag)

    def engine_arguments(self, url: URL, options: EngineOptions) -> dict[str, Any]:
        arguments = super().engine_arguments(url, options)
        connect_args = arguments["connect_args"]
        # The server cancels a statement (lock waits included) past the timeout: SQLSTATE
        # 57014. The client gives up a second later, for a server that stopped answering:
        # on a statement (command_timeout) and on opening a connection (timeout; asyncpg's
        # own default, 60 s, held a request that long when a frozen server took the TCP
        # connection but never answered the startup).
        settings = {**connect_args.get("server_settings", {})}
        settings.setdefault("statement_timeout", str(int(options.statement_timeout * 1000)))
        connect_args["server_settings"] = settings
        connect_args.setdefault("command_timeout", options.answer_timeout)
        connect_args.setdefault("timeout", options.answer_timeout)
        return arguments

    def ping(self, dbapi_connection: Any) -> bool:
        # SQLAlchemy's own pre-ping wraps this in BEGIN/ROLLBACK: three round trips.
        await_(dbapi_connection.driver_connection.fetchrow(";"))
        return True

    def upsert(self, table: Table, values: Mapping[str, Any], conflict: Conflict) -> Any:
        return on_conflict_upsert(postgresql_insert(table).values(values), table, conflict)

    def insert_new(self, table: Table, dialect: SQLAlchemyDialect) -> Any:
        return on_conflict_skip(postgresql_insert(table), table)

    def in_list(self, column: ColumnElement[Any], name: str) -> ColumnElement[bool]:
        """`column = ANY($1)` with the list as one array: the statement is the same for
        every length, and 500 keys cost one parameter instead of 500 (3 ms less a batch)."""
        return column == any_(bindparam(name, type_=ARRAY(column.type)))

    async def bulk_insert(
        self, connection: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]
    ) -> bool:
        """COPY, through the pooled asyncpg connection, inside the caller's transaction.

        Used only where it is safe: every row names the same columns and no column left
        out needs a Python-side default. Values pass SQLAlchemy's own bind processors, so
        they are converted exactly as on the executemany path (in place: the rows are the
        repository's own).
        """
        names = list(rows[0])
        if any(len(row) != len(names) for row in rows) or any(
            column.default is not None for column in table.columns if column.key not in names
        ):
            return False
        records = positional_rows(rows, _bind_processors(table, connection.dialect, tuple(names)))
        raw: Any = (await connection.get_raw_connection()).driver_connection
        await self.begin_on_driver(connection)
        await raw.copy_records_to_table(
            table.name, records=records, columns=names, schema_name=table.schema
        )
        return True

    async def begin_on_driver(self, connection: AsyncConnection) -> None:
        # SQLAlchemy's asyncpg adapter starts the driver's transaction on its own first
        # statement; the driver path (and COPY) must not run before it. Starting it here
        # sends the same BEGIN, no extra round trip. `_start_transaction` is the adapter's
        # own method for it (SQLAlchemy 2.x); tests/database/test_driver_path.py holds it.
        if not connection.in_transaction():
            return
        adapter: Any = connection.sync_connection.connection.dbapi_connection  # type: ignore[union-attr]
        if adapter._transaction is None:
            try:
                await adapter._start_transaction()
            except Exception as error:  # raised as SQLAlchemy's adapted DBAPI error
                await discard_if_lost(connection, adapter._connection.is_closed(), error)
                raise

    async def insert_and_commit(
        self, connection: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]]
    ) -> bool:
        """The INSERT and the COMMIT in one message: the outbox's rows cost no round trip.

        asyncpg sends a query without arguments as one simple-protocol Query, which may
        hold several statements; the server runs them in order and stops at the first
        error, leaving the transaction for the caller's rollback. Without arguments the
        values travel as literals, so this is done only where a literal is exact: each
        value renders as one of a few plain kinds, and the server reads a string literal
        as written (`standard_conforming_strings`: a doubled quote is all the escaping)
        in UTF-8. Anything else is left to the usual INSERT, then COMMIT.

        After the COMMIT the driver's and SQLAlchemy's adapter's records of the
        transaction are closed as their own commit would close them, so that
        SQLAlchemy's commit then sends nothing. These are private attributes (checked
        with asyncpg 0.32 and SQLAlchemy 2.1); tests/outbox/test_publish.py fails if
        either stops being closed.
        """
        driver = driver_connection(connection)
        if connection.dialect.driver != "asyncpg" or not _reads_literals_as_written(driver):
            return False
        sql = _literal_insert(table, rows, connection.dialect)
        if sql is None:
            return False
        adapter: Any = connection.sync_connection.connection.dbapi_connection  # type: ignore[union-attr]
        transaction = adapter._transaction  # None: no BEGIN sent yet, the INSERT is atomic alone
        try:
            await driver.execute(sql if transaction is None else f"{sql}; COMMIT")
        except Exception as error:
            await discard_if_lost(connection, driver.is_closed(), error)
            raise
        if transaction is not None:
            from asyncpg.transaction import TransactionState

            transaction._state = TransactionState.COMMITTED
            driver._top_xact = None
            adapter._transaction = None
        if connection.in_transaction():
            await connection.commit()  # SQLAlchemy's record only: the driver has nothing to send
        return True

    def driver_path(self, dialect: SQLAlchemyDialect) -> DriverPath | None:
        return AsyncpgPath(dialect)

    def is_driver_error(self, error: BaseException) -> bool:
        import asyncpg
        from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi

        # The adapter's own DBAPI errors too: raised where the adapter is called directly.
        return isinstance(
            error, asyncpg.PostgresError | asyncpg.InterfaceError | AsyncAdapt_asyncpg_dbapi.Error
        )

    def diagnose(self, error: BaseException) -> Diagnosis | None:
        driver_error = error.__cause__ or error
        if _prepared_before_a_schema_change(driver_error):
            # Inside a transaction (outside one it is prepared again): a migration changed
            # the table under it, concurrently. Run again, the request succeeds.
            return Diagnosis(Failure.CONCURRENCY)
        sqlstate = getattr(driver_error, "sqlstate", None) or getattr(error, "sqlstate", None)
        if sqlstate is None:
            return Diagnosis(Failure.UNAVAILABLE) if _closed(driver_error) else None
        failure = _FAILURE_BY_SQLSTATE.get(sqlstate)
        if failure is None and sqlstate.startswith("08"):  # connection_exception class
            failure = Failure.UNAVAILABLE
        if failure is None:
            return None
        constraint = getattr(driver_error, "constraint_name", None)
        column = getattr(driver_error, "column_name", None)
        detail = getattr(driver_error, "detail", None) or ""
        key_columns = first_match(r"Key \(([^)]*)\)=", detail)
        columns = (column,) if column else quoted_names(key_columns) if key_columns else ()
        return Diagnosis(failure, constraint=constraint, columns=columns)


def _reads_literals_as_written(driver: Any) -> bool:
    settings = driver.get_settings()
    return bool(settings.standard_conforming_strings == "on" and settings.client_encoding == "UTF8")


def _literal_insert(
    table: Table, rows: Sequence[Mapping[str, Any]], dialect: SQLAlchemyDialect
) -> str | None:
    """`INSERT INTO table (...) VALUES (...), ...` with every value a literal, or None
    when a value has no exact literal here. Values pass the columns' bind processors
    first, so they are what the driver would have been given (JSON already a string)."""
    names = tuple(rows[0])
    prefix = _insert_prefix(table, dialect, names)
    processors = _bind_processors(table, dialect, names)
    values: list[str] = []
    for row in rows:
        if tuple(row) != names:
            return None
        literals = []
        for name, processor in processors:
            literal = _literal(processor(row[name]) if processor else row[name])
            if literal is None:
                return None
            literals.append(literal)
        values.append(f"({', '.join(literals)})")
    sql = prefix + ", ".join(values)
    try:
        sql.encode()  # a lone surrogate has no UTF-8 form: the usual path reports it
    except UnicodeEncodeError:
        return None
    return None if "\x00" in sql else sql


@functools.cache
def _insert_prefix(table: Table, dialect: SQLAlchemyDialect, names: tuple[str, ...]) -> str:
    """`INSERT INTO t (a, b) VALUES `, quoted as the dialect quotes."""
    preparer = dialect.identifier_preparer
    columns = ", ".join(preparer.quote(table.columns[name].name) for name in names)
    return f"INSERT INTO {preparer.format_table(table)} ({columns}) VALUES "


@functools.cache
def _bind_processors(
    table: Table, dialect: SQLAlchemyDialect, names: tuple[str, ...]
) -> tuple[tuple[str, Callable[[Any], Any] | None], ...]:
    """Each named column's SQLAlchemy bind processor: what COPY and literals convert with,
    as the executemany path would. Built once per table, engine dialect and columns."""
    return tuple(
        (name, table.columns[name].type.dialect_impl(dialect).bind_processor(dialect))
        for name in names
    )


def _literal(value: Any) -> str | None:
    """Exact types only: a str or int subclass (an enum) may print otherwise than it binds."""
    kind = type(value)
    if value is None:
        return "NULL"
    if kind is bool:
        return "TRUE" if value else "FALSE"
    if kind is int:
        return str(value)
    if kind is str:
        text: str = value
    elif kind is UUID:
        text = str(value)
    elif kind is datetime and value.tzinfo is not None:
        text = value.isoformat()
    else:
        return None
    return "'" + text.replace("'", "''") + "'"


def _prepared_before_a_schema_change(error: BaseException) -> bool:
    """asyncpg's errors for a statement whose table changed since it was prepared."""
    import asyncpg

    return isinstance(error, asyncpg.InvalidCachedStatementError | asyncpg.OutdatedSchemaCacheError)


def _closed(error: BaseException) -> bool:
    """asyncpg's own check before using a connection the server closed: the connection
    is gone, as a 08 SQLSTATE would say (its InterfaceError carries none)."""
    import asyncpg

    return isinstance(error, asyncpg.InterfaceError) and "connection is closed" in str(error)


class AsyncpgPath(DriverPath):
    """Each statement prepared once per connection and kept (in the pooled connection's
    `info`, dropped with it), and each wait for its reply bounded by one `AnswerWatch`
    instead of a timer per statement.

    asyncpg's connection methods take a statement from its own cache, but they arm the
    `command_timeout` timer on every call; a prepared statement's methods can be told to
    arm none (`NO_TIMEOUT`, the sentinel asyncpg passes itself where it wants no timer).
    The bound is the connection's own `command_timeout`, read from asyncpg's private
    `_config` (asyncpg 0.32); tests/database/test_answer_bound.py fails if either stops
    working. Outside a transaction the connection is in autocommit (no BEGIN was sent):
    each statement is its own transaction, as on the normal single-statement path.
    """

    def __init__(self, dialect: SQLAlchemyDialect) -> None:
        import asyncpg
        from asyncpg.protocol import NO_TIMEOUT

        super().__init__(dialect)
        self._watch = AnswerWatch()
        self._no_timeout = NO_TIMEOUT
        #: What a prepared statement raises once the table changed under it.
        self._stale = (asyncpg.InvalidCachedStatementError, asyncpg.OutdatedSchemaCacheError)

    async def fetch_one(
        self, connection: AsyncConnection, statement: DriverStatement, values: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        _, record = await self._run(connection, statement, values, "fetchrow")
        return None if record is None else statement.row(record)

    async def fetch_all(
        self, connection: AsyncConnection, statement: DriverStatement, values: Mapping[str, Any]
    ) -> Records:
        _, records = await self._run(connection, statement, values, "fetch")
        return statement.rows(records)

    async def execute(
        self, connection: AsyncConnection, statement: DriverStatement, values: Mapping[str, Any]
    ) -> int:
        prepared, _ = await self._run(connection, statement, values, "fetch")
        status: str = prepared.get_statusmsg()
        return int(status.rsplit(" ", 1)[-1])  # "UPDATE 1", "DELETE 0", "INSERT 0 1"

    async def _run(
        self,
        connection: AsyncConnection,
        statement: DriverStatement,
        values: Mapping[str, Any],
        method: str,
    ) -> tuple[Any, Any]:
        """The prepared statement and what its `method` returned."""
        pooled = pooled_connection(connection)
        driver = pooled.driver_connection
        arguments = statement.arguments(values)
        try:
            prepared = await _prepared(pooled.info, driver, statement)
            try:
                return prepared, await self._send(driver, getattr(prepared, method), arguments)
            except self._stale:
                # The table changed under the prepared statement: prepared again and sent
                # again where nothing else was done in its transaction (as asyncpg's
                # own cache does); inside one the transaction is already aborted.
                pooled.info[_PREPARED].pop(statement.sql, None)
                if driver.is_in_transaction():
                    raise
                prepared = await _prepared(pooled.info, driver, statement)
                return prepared, await self._send(driver, getattr(prepared, method), arguments)
        except Exception as error:
            await discard_if_lost(connection, driver.is_closed(), error)
            raise

    async def _send(
        self, driver: Any, call: Callable[..., Awaitable[Any]], arguments: list[Any]
    ) -> Any:
        # The connection's own bound: a driver path serves every session of its
        # dialect (statements are cached per repository class), each with its own.
        bound = driver._config.command_timeout
        if bound is None:  # no bound was asked for
            return await call(*arguments)
        reply = call(*arguments, timeout=self._no_timeout)
        return await self._watch.wait(driver, bound, driver.terminate, reply)


#: In a pooled connection's `info`: its prepared statements, by their SQL.
_PREPARED = "fastapi_building_blocks.prepared"
#: Prepared statements kept per connection before the cache starts over (the size of
#: asyncpg's own statement cache). Each holds a plan on the server.
MAX_PREPARED_PER_CONNECTION = 100


async def _prepared(info: dict[str, Any], driver: Any, statement: DriverStatement) -> Any:
    """`statement` prepared on this connection: once, then kept with it."""
    kept: dict[str, Any] | None = info.get(_PREPARED)
    if kept is None:
        kept = info[_PREPARED] = {}
    prepared = kept.get(statement.sql)
    if prepared is None:
        prepared = await driver.prepare(statement.sql)  # under asyncpg's own timer
        if not statement.knows_result_types:  # they come with a prepared statement
            statement.learn_result_types([a.type.oid for a in prepared.get_attributes()])
        if len(kept) >= MAX_PREPARED_PER_CONNECTION:
            kept.clear()
        kept[statement.sql] = prepared
    return prepared

"""MySQL and MariaDB through aiomysql."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import mysql
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.engine import URL
from sqlalchemy.engine import Dialect as SQLAlchemyDialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import TypeEngine

from ..records import Records
from .base import Conflict, Diagnosis, Dialect, EngineOptions, Failure, first_match, quoted_names
from .driver_path import (
    DriverPath,
    DriverStatement,
    discard_if_lost,
    driver_connection,
    take_owed_begin,
)

#: Server error numbers (MySQL / MariaDB manuals) and client errors 2003, 2006, 2013.
_FAILURE_BY_ERRNO = {
    1062: Failure.UNIQUE,
    1451: Failure.FOREIGN_KEY,  # cannot delete or update a parent row
    1452: Failure.FOREIGN_KEY,  # cannot add or update a child row
    1048: Failure.NOT_NULL,
    1364: Failure.NOT_NULL,  # field has no default value
    3819: Failure.CHECK,  # MySQL
    4025: Failure.CHECK,  # MariaDB
    1406: Failure.INVALID_VALUE,  # data too long
    1264: Failure.INVALID_VALUE,  # out of range
    1292: Failure.INVALID_VALUE,  # incorrect value (e.g. a malformed UUID)
    1366: Failure.INVALID_VALUE,  # incorrect string or integer value
    1205: Failure.CONCURRENCY,  # lock wait timeout
    1213: Failure.CONCURRENCY,  # deadlock
    1040: Failure.UNAVAILABLE,  # too many connections
    1045: Failure.LOGIN_REFUSED,  # access denied
    1044: Failure.LOGIN_REFUSED,  # access denied to the database
    1049: Failure.LOGIN_REFUSED,  # unknown database
    1969: Failure.TIMEOUT,  # MariaDB: max_statement_time exceeded
    3024: Failure.TIMEOUT,  # MySQL: max_execution_time exceeded
    2003: Failure.UNAVAILABLE,  # can't connect
    2006: Failure.UNAVAILABLE,  # server has gone away
    2013: Failure.UNAVAILABLE,  # lost connection during query
}

#: Below MySQL's default wait_timeout (8 hours) and common proxy idle limits.
DEFAULT_POOL_RECYCLE_SECONDS = 3600


class MySQLDialect(Dialect):
    """Connections live in autocommit; the engine sends BEGIN for transactions.

    A read or a single-row write is then one round trip: outside autocommit the driver
    needs a COMMIT after every write and a ROLLBACK after every read (the read view a
    SELECT opens would otherwise outlive the checkout).

    A unit of work's BEGIN is not a round trip of its own: the transaction begins at its
    first statement, and on the driver path BEGIN is written to the server together with
    that statement, the two replies read in order (`pipelines_begin`). A first statement
    on SQLAlchemy's path has the engine send BEGIN just before, as everywhere else.
    Measured with aiomysql alone on MariaDB 10.11 (medians of 600 one-row writes): BEGIN
    sent apart 1.28 ms, pipelined 1.08, the driver's own implicit transaction 1.11.
    """

    name = "mysql"
    system_name = "mysql"
    default_port = 3306
    async_driver = "aiomysql"
    extra = "mysql"
    begins_transactions_itself = True
    pipelines_begin = True
    #: MariaDB returns rows from INSERT and DELETE only, MySQL from neither.
    update_returning = False
    stores_naive_utc = True

    def datetime_type(self) -> TypeEngine[Any]:
        return mysql.DATETIME(fsp=6)  # microseconds; TIMESTAMP would end in 2038

    def system_name_of(self, dialect: SQLAlchemyDialect) -> str:
        return "mariadb" if getattr(dialect, "is_mariadb", False) else self.system_name

    def prepare_url(self, url: URL) -> URL:
        url = super().prepare_url(url)
        if "charset" not in url.query:
            url = url.update_query_dict({"charset": "utf8mb4"})
        return url

    def engine_arguments(self, url: URL, options: EngineOptions) -> dict[str, Any]:
        arguments = super().engine_arguments(url, options)
        if options.pool_recycle is None:
            arguments["pool_recycle"] = DEFAULT_POOL_RECYCLE_SECONDS
        # SQLAlchemy sets it on every new connection and restores it on return, should a
        # caller have switched a connection to another isolation level.
        arguments["isolation_level"] = "AUTOCOMMIT"
        arguments["connect_args"].setdefault("conv", fast_decoders())
        from . import aiomysql_connection  # imports aiomysql: here, where it is needed

        arguments["connect_args"].setdefault(
            "async_creator_fn",
            functools.partial(aiomysql_connection.connect, options.answer_timeout),
        )
        return arguments

    # MariaDB numbers each transaction with a GTID (domain-server-sequence); MySQL's GTIDs
    # are another scheme, not compared here: on MySQL, read-your-writes goes by time.

    async def write_position(self, connection: AsyncConnection) -> str | None:
        if self.system_name_of(connection.dialect) != "mariadb":
            return None
        # The GTID of this connection's last commit: the write just made.
        position = (await connection.exec_driver_sql("SELECT @@last_gtid")).scalar()
        return str(position) if position else None

    async def has_replayed(self, connection: AsyncConnection, position: str) -> bool:
        # Timeout 0: answers at once, 0 when the replica has applied the GTID, -1 if not.
        result = await connection.exec_driver_sql("SELECT MASTER_GTID_WAIT(%s, 0)", (position,))
        return result.scalar() == 0

    def skips_locked_rows(self, dialect: SQLAlchemyDialect) -> bool:
        version = tuple(getattr(dialect, "server_version_info", None) or ())
        mariadb = self.system_name_of(dialect) == "mariadb"
        return version >= ((10, 6) if mariadb else (8, 0, 1))

    def position_order(self, position: str) -> int | None:
        # domain-server-sequence: the sequence grows within a domain; several domains
        # (a list) are not ordered by one number.
        parts = position.split("-")
        return int(parts[2]) if len(parts) == 3 and "," not in position else None

    async def replica_lag(self, connection: AsyncConnection) -> float | None:
        if self.system_name_of(connection.dialect) != "mariadb":
            return None
        # Needs the SLAVE MONITOR (REPLICA MONITOR) privilege.
        status = (await connection.exec_driver_sql("SHOW REPLICA STATUS")).mappings().first()
        if status is None:
            return None  # not a replica
        behind = status["Seconds_Behind_Master"]
        return float("inf") if behind is None else float(behind)  # NULL: replication stopped

    def on_connect(self, dbapi_connection: Any, options: EngineOptions) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("SET time_zone = '+00:00'")
        cursor.execute(_statement_timeout_sql(dbapi_connection, options.statement_timeout))
        cursor.close()

    def needs_reset(self, dbapi_connection: Any, transaction_ended: bool) -> bool:
        # The server reports an open transaction in every reply's status flags. Outside
        # autocommit (a caller chose an isolation level) a SELECT also leaves a read view
        # open that the flag does not report: unless the transaction ended, roll back.
        driver = dbapi_connection.driver_connection
        if driver.get_transaction_status():
            return True
        return not transaction_ended and not driver.get_autocommit()

    def ping(self, dbapi_connection: Any) -> bool:
        # The protocol's own ping (COM_PING), as SQLAlchemy's pre-ping sends it; ours so the
        # session's idle window applies.
        dbapi_connection.ping(False)
        return True

    def upsert(self, table: Table, values: Mapping[str, Any], conflict: Conflict) -> Any:
        # MySQL cannot name the conflict target: any unique key of the table triggers it.
        statement = mysql_insert(table).values(values)
        updates: dict[str, Any] = {name: statement.inserted[name] for name in conflict.update}
        if conflict.increment:
            updates[conflict.increment] = table.c[conflict.increment] + 1
        if not updates:  # a no-op update keeps the row as it is
            first = conflict.columns[0]
            updates = {first: table.c[first]}
        return statement.on_duplicate_key_update(updates)

    def driver_path(self, dialect: SQLAlchemyDialect) -> DriverPath | None:
        return AiomysqlPath(dialect)

    def is_driver_error(self, error: BaseException) -> bool:
        import pymysql

        return isinstance(error, pymysql.err.Error)

    def diagnose(self, error: BaseException) -> Diagnosis | None:
        arguments = getattr(error, "args", ())
        if not arguments or not isinstance(arguments[0], int):
            return None
        failure = _FAILURE_BY_ERRNO.get(arguments[0])
        if failure is None:
            return None
        message = str(arguments[1]) if len(arguments) > 1 else ""
        if failure is Failure.UNIQUE:
            return Diagnosis(
                failure, constraint=first_match(r"for key '(?:[^'.]*\.)?([^']*)'", message)
            )
        if failure is Failure.FOREIGN_KEY:
            columns = first_match(r"FOREIGN KEY \(([^)]*)\)", message)
            return Diagnosis(
                failure,
                constraint=first_match(r"CONSTRAINT `([^`]*)`", message),
                columns=quoted_names(columns) if columns else (),
            )
        if failure is Failure.NOT_NULL:
            column = first_match(r"(?:Column|Field) '([^']*)'", message)
            return Diagnosis(failure, columns=(column,) if column else ())
        if failure is Failure.CHECK:
            return Diagnosis(
                failure, constraint=first_match(r"[Cc]onstraint [`']([^`']*)[`']", message)
            )
        return Diagnosis(failure)


def _statement_timeout_sql(dbapi_connection: Any, seconds: float) -> str:
    """The server's own statement timeout, asked of the server that answered.

    A mysql:// URL may lead to MariaDB, so the server's version decides, not the URL.
    MariaDB bounds every statement, lock waits included (max_statement_time, seconds);
    MySQL bounds SELECTs only (max_execution_time, milliseconds).
    """
    if "mariadb" in dbapi_connection.driver_connection.get_server_info().lower():
        return f"SET SESSION max_statement_time = {seconds:.3f}"
    return f"SET SESSION max_execution_time = {int(seconds * 1000)}"


def fast_decoders() -> dict[int, Any]:
    """The driver's decoders, with dates and times read by the standard library's parser.

    PyMySQL parses every DATETIME value with a regular expression (6 µs); the server sends
    ISO 8601, which `datetime.fromisoformat` reads in C (0.15 µs): a tenth of the time of
    a page of 50 rows. Anything it refuses (a zero date) goes to PyMySQL's own decoder,
    so every value comes out exactly as before.
    """
    from pymysql.constants import FIELD_TYPE
    from pymysql.converters import convert_date, convert_datetime, decoders

    def read_datetime(text: Any) -> Any:
        try:
            return datetime.fromisoformat(text)
        except (TypeError, ValueError):
            return convert_datetime(text)

    def read_date(text: Any) -> Any:
        try:
            return date.fromisoformat(text)
        except (TypeError, ValueError):
            return convert_date(text)

    return {
        **decoders,
        FIELD_TYPE.DATETIME: read_datetime,
        FIELD_TYPE.TIMESTAMP: read_datetime,
        FIELD_TYPE.DATE: read_date,
    }


class AiomysqlPath(DriverPath):
    """The statement on aiomysql's own cursor, in autocommit or in the engine's transaction."""

    async def fetch_all(
        self, connection: AsyncConnection, statement: DriverStatement, values: Mapping[str, Any]
    ) -> Records:
        driver = driver_connection(connection)
        arguments = statement.arguments(values)
        try:
            async with driver.cursor() as cursor:
                await _execute(connection, cursor, statement.sql, arguments)
                if not statement.knows_result_types:
                    statement.learn_result_types([column[1] for column in cursor.description])
                records = await cursor.fetchall()
        except Exception as error:
            await discard_if_lost(connection, driver.closed, error)
            raise
        return statement.rows(records)

    async def execute(
        self, connection: AsyncConnection, statement: DriverStatement, values: Mapping[str, Any]
    ) -> int:
        driver = driver_connection(connection)
        arguments = statement.arguments(values)
        try:
            async with driver.cursor() as cursor:
                # Rows matched, not changed: SQLAlchemy connects with CLIENT.FOUND_ROWS.
                return await _execute(connection, cursor, statement.sql, arguments)
        except Exception as error:
            await discard_if_lost(connection, driver.closed, error)
            raise

    async def execute_many(
        self,
        connection: AsyncConnection,
        statement: DriverStatement,
        rows: Sequence[dict[str, Any]],
    ) -> bool:
        # Inside the transaction the engine began (BEGIN) and SQLAlchemy commits. aiomysql
        # folds the rows into multi-row INSERTs, as SQLAlchemy's executemany does through it.
        driver = driver_connection(connection)
        try:
            async with driver.cursor() as cursor:
                if take_owed_begin(connection):
                    await cursor.execute(MySQLDialect.begin_statement)
                await cursor.executemany(statement.sql, statement.arguments_many(rows))
        except Exception as error:
            await discard_if_lost(connection, driver.closed, error)
            raise
        return True


async def _execute(connection: AsyncConnection, cursor: Any, sql: str, arguments: Any) -> int:
    """`sql` on `cursor`, preceded by the connection's owed BEGIN if it has one; the rows
    it matched."""
    if not take_owed_begin(connection):
        return int(await cursor.execute(sql, arguments))
    await _after_begin(cursor, cursor.mogrify(sql, arguments))
    return int(cursor.rowcount)


async def _after_begin(cursor: Any, query: str) -> None:
    """BEGIN and `query` written to the server at once, their replies read in order, the
    second left on `cursor` as its own `execute` leaves it (`_executed` included).

    The server reads one command at a time and answers each in turn, so the pair costs
    one round trip (MariaDB's own connectors pipeline commands so). aiomysql has no call
    for it: this uses its command and reply steps (`_execute_command`,
    `_read_query_result`, each reply's packets numbered from 1; the cursor's
    `_clear_result`, `_do_get_result`), checked with aiomysql 0.3.2;
    tests/database/test_driver_path.py holds the order on the wire, and the contract
    suite fails on MariaDB without the BEGIN.

    The connection is in autocommit, so a statement after a BEGIN the server refused
    would run, and commit, alone. A BEGIN does not fail on a live connection in practice
    (on a lost one neither ran, or the server rolls both back), but should it: the
    statement's reply is read too, and if the statement took effect the caller hears
    that its outcome is unknown, never that it failed.
    """
    from pymysql.constants import COMMAND
    from pymysql.err import MySQLError

    from ..errors import CommitOutcomeUnknownError

    driver = cursor.connection
    cursor._clear_result()
    await driver._execute_command(COMMAND.COM_QUERY, MySQLDialect.begin_statement)
    await driver._execute_command(COMMAND.COM_QUERY, query)
    try:
        driver._next_seq_id = 1
        await driver._read_query_result()
    except MySQLError as refused:
        if driver.closed:
            raise
        try:
            driver._next_seq_id = 1
            await driver._read_query_result()
        except MySQLError:
            raise refused from None  # neither took effect
        raise CommitOutcomeUnknownError(
            "the transaction could not begin and its first statement ran on its own: "
            "it may be stored"
        ) from refused
    except BaseException:
        driver.close()  # the statement's reply is still unread: out of step for good
        raise
    driver._next_seq_id = 1
    await driver._read_query_result()
    await cursor._do_get_result()
    cursor._executed = query


class MariaDBDialect(MySQLDialect):
    """MariaDB speaks the MySQL dialect; SQLAlchemy names it apart for `mariadb://` URLs."""

    name = "mariadb"
    system_name = "mariadb"

"""The driver path: hot single-row statements sent through the driver's own prepared statements.

Profiled, SQLAlchemy's `execute` costs more than the database work of a single-row
statement: compiled-cache lookup, execution context, result metadata, greenlet switches,
and on aiosqlite three or four hops to the driver's thread. The repository's hot
statements (by key, and pages) can go straight to the driver instead, on the very
connection SQLAlchemy's pool checked out, so pooling, pre-ping and pool metrics do not
change. PostgreSQL (asyncpg, which prepares and caches each statement) and SQLite
(aiosqlite, one thread hop per statement) and MySQL / MariaDB (aiomysql) have a path;
SQL Server does not (aioodbc could, but there is no server here to measure or test it).
`bulk_create`'s batches take it too, through the driver's executemany (COPY on PostgreSQL).

What stays exactly as on the normal path: the SQL (SQLAlchemy compiles it for the dialect),
value conversion (each type's own bind and result processors) and error translation.
What does not: SQLAlchemy's execute events do not fire for these statements, so the
session turns the path off while anything listens to them (the OpenTelemetry SQLAlchemy
instrumentation, `echo`).
"""

from __future__ import annotations

import operator
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, cast

from sqlalchemy.engine import Dialect as SQLAlchemyDialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from ..records import Getter, Records

Processor = Callable[[Any], Any] | None


class DriverStatement:
    """One Core statement compiled for the driver: positional SQL and its value processors."""

    __slots__ = (
        "_constants",
        "_dialect",
        "_getters",
        "_parameters",
        "_result_positions",
        "_types",
        "columns",
        "complete",
        "sql",
    )

    def __init__(
        self, statement: ClauseElement, dialect: SQLAlchemyDialect, supplied: Collection[str]
    ) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        self.sql = compiled.string
        names = tuple(compiled.positiontup or ())
        binds = compiled.binds
        #: Values the statement carries itself (SQLite's OFFSET 0 after a LIMIT).
        self._constants = {
            name: binds[name].value
            for name in names
            if name not in supplied and binds[name].value is not None and not binds[name].callable
        }
        #: False when SQLAlchemy would add values itself (a Python-side column default, an
        #: onupdate) or render some when it runs (IN lists): only its own execute knows how,
        #: so the statement takes the normal path.
        self.complete = (
            set(names) <= {*supplied, *self._constants}
            and not compiled.insert_prefetch
            and not compiled.update_prefetch
            and not compiled.post_compile_params
        )
        self._parameters = tuple(
            (name, binds[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in names
        )
        returned = getattr(statement, "exported_columns", ())  # a SELECT's or RETURNING's
        self.columns = tuple(column.key for column in returned)
        self._types = tuple(column.type for column in returned)
        self._dialect = dialect
        #: Only the columns that need converting, by position; the others pass as the
        #: driver made them. None until the driver's column types are known.
        self._result_positions: tuple[tuple[int, Callable[[Any], Any]], ...] | None = None
        self._getters: dict[tuple[str, ...], Getter] = {}

    def arguments(self, values: Mapping[str, Any]) -> list[Any]:
        """The positional arguments, each converted as SQLAlchemy would bind it."""
        if self._constants:
            values = {**self._constants, **values}
        return [
            values[name] if process is None else process(values[name])
            for name, process in self._parameters
        ]

    def arguments_many(self, rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
        """`arguments` for many rows at once (an INSERT's: it carries no constants)."""
        return positional_rows(rows, self._parameters)

    @property
    def knows_result_types(self) -> bool:
        return self._result_positions is not None

    def learn_result_types(self, driver_types: Sequence[Any]) -> None:
        """Result processors need the driver's type of each column, known once prepared."""
        dialect = self._dialect
        processors = (
            type_.dialect_impl(dialect).result_processor(dialect, driver_type)
            for type_, driver_type in zip(self._types, driver_types, strict=True)
        )
        self._result_positions = tuple(
            (position, process)
            for position, process in enumerate(processors)
            if process is not None
        )

    def rows(self, records: Sequence[Sequence[Any]]) -> Records:
        """Driver rows as the repository's rows, each value converted as SQLAlchemy would.

        Column by column, as `positional_rows` converts: a loop per column that needs
        converting, none per value that does not; records that need none are kept as
        the driver made them.
        """
        if self._result_positions:
            converted = [list(record) for record in records]
            for position, process in self._result_positions:
                for values in converted:
                    values[position] = process(values[position])
            records = converted
        return Records(self.columns, records, self._getters)

    def row(self, record: Sequence[Any]) -> dict[str, Any]:
        # zip is given no `strict`: a keyword takes it off CPython's fast call path (a
        # third of the cost of making the dict), and both come from the statement.
        columns = self.columns
        row = dict(zip(columns, record))  # noqa: B905
        for position, process in self._result_positions or ():
            row[columns[position]] = process(record[position])
        return row


class DriverPath(ABC):
    """How one driver runs a `DriverStatement` on a pooled SQLAlchemy connection."""

    def __init__(self, dialect: SQLAlchemyDialect) -> None:
        self.dialect = dialect

    def compile(self, statement: ClauseElement, supplied: Collection[str]) -> DriverStatement:
        return DriverStatement(statement, self.dialect, supplied)

    async def fetch_one(
        self,
        connection: AsyncConnection,
        statement: DriverStatement,
        values: Mapping[str, Any],
    ) -> Mapping[str, Any] | None:
        """The first row `statement` returns (a SELECT or a RETURNING), or None.

        By-key statements return one row at most, so reading them all costs nothing;
        a driver with a cheaper single-row call overrides this.
        """
        rows = await self.fetch_all(connection, statement, values)
        return rows[0] if rows else None

    @abstractmethod
    async def fetch_all(
        self, connection: AsyncConnection, statement: DriverStatement, values: Mapping[str, Any]
    ) -> Records:
        """Every row a SELECT returns."""

    @abstractmethod
    async def execute(
        self, connection: AsyncConnection, statement: DriverStatement, values: Mapping[str, Any]
    ) -> int:
        """Run a write; the number of rows it matched."""

    async def execute_many(
        self,
        connection: AsyncConnection,
        statement: DriverStatement,
        rows: Sequence[dict[str, Any]],
    ) -> bool:
        """Run an INSERT once per row in one driver call, inside the connection's transaction.

        False leaves the rows to SQLAlchemy's executemany: a driver overrides this only
        where its own call is inside SQLAlchemy's transaction and faster than Core's.
        """
        return False


def positional_rows(
    rows: Sequence[dict[str, Any]], parameters: Sequence[tuple[str, Processor]]
) -> list[tuple[Any, ...]]:
    """The rows as tuples in `parameters` order, each value converted by its processor.

    Column by column and in place (the rows are the repository's own): a loop per column
    that needs converting, none per value that does not; the tuples come from itemgetter.
    """
    for name, process in parameters:
        if process is not None:
            for row in rows:
                if (value := row[name]) is not None:
                    row[name] = process(value)
    names = [name for name, _ in parameters]
    if len(names) == 1:  # itemgetter of one name gives the value, not a tuple
        return [(row[names[0]],) for row in rows]
    return list(map(operator.itemgetter(*names), rows))


#: In a connection's `info`: its transaction is begun as far as SQLAlchemy knows, and the
#: BEGIN itself travels with the driver statement sent right after (`Dialect.
#: pipelines_begin`, `executor.TransactionalExecutor`). Should that statement fail before
#: it is sent, the unit of work must roll back before going on, and that ends the debt.
BEGIN_OWED = "fastapi_building_blocks.begin_owed"


def owe_begin(connection: AsyncConnection) -> None:
    """Let the next statement carry this connection's BEGIN (call before `begin()`)."""
    connection.info[BEGIN_OWED] = True


def take_owed_begin(connection: AsyncConnection) -> bool:
    """Whether the statement about to run must send the BEGIN first (it now will)."""
    return bool(connection.info.pop(BEGIN_OWED, False))


def pooled_connection(connection: AsyncConnection) -> Any:
    """The pool's record of a checked-out SQLAlchemy connection: its `driver_connection`
    and its `info`, which lives as long as the driver's connection does."""
    # The synchronous view is set while the connection is open; reaching the driver
    # through it avoids the greenlet hop of `get_raw_connection()`.
    return connection.sync_connection.connection  # type: ignore[union-attr]


def driver_connection(connection: AsyncConnection) -> Any:
    """The driver's own connection under a checked-out SQLAlchemy connection."""
    return pooled_connection(connection).driver_connection


async def discard_if_lost(connection: AsyncConnection, lost: bool, error: Exception) -> None:
    """After a driver error: a dead connection must not go back to the pool.

    SQLAlchemy invalidates it on its own path; here that is ours to do. The error raised
    is the standard library's, which the package translates to DatabaseUnavailableError;
    a TimeoutError (the client stopped waiting, and closed the connection) stays one.
    """
    if lost:
        await connection.invalidate()
        if isinstance(error, TimeoutError):
            raise error
        raise ConnectionResetError("the connection to the database was lost") from error

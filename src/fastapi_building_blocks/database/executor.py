"""How one statement runs on a checked-out connection: through the driver, or SQLAlchemy.

The session chooses an `Executor` (see `DatabaseSession.executor`); a repository asks it
to `prepare` each statement once per query shape and then runs what it got. Every
repository method therefore has one code path, and the driver-or-SQLAlchemy decision is
made in one place.

- `CoreExecutor`: SQLAlchemy's `connection.execute`, for every statement.
- `DriverExecutor`: the statement compiled once for the driver (`dialects.driver_path`),
  where it can take it; a statement that needs SQLAlchemy at run time (a Python-side
  default, an expanding IN list) is prepared for SQLAlchemy instead, transparently.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ClauseElement

from ..dialects import Dialect
from ..dialects.driver_path import DriverPath, DriverStatement, owe_begin
from ..records import Getter, Records

Row = Mapping[Any, Any]


class Prepared(ABC):
    """One statement, ready to run on any connection of its session."""

    @abstractmethod
    async def rows(self, connection: AsyncConnection, params: Mapping[str, Any]) -> Sequence[Row]:
        """Every row it returns (a SELECT, or a write with RETURNING)."""

    async def row(self, connection: AsyncConnection, params: Mapping[str, Any]) -> Row | None:
        rows = await self.rows(connection, params)
        return rows[0] if rows else None

    @abstractmethod
    async def write(self, connection: AsyncConnection, params: Mapping[str, Any]) -> int:
        """Run a write; the number of rows it matched."""

    @abstractmethod
    async def write_many(self, connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
        """Run an INSERT for every row, batched by the driver."""


class CoreStatement(Prepared):
    """A statement run by SQLAlchemy's `execute`."""

    __slots__ = ("_getters", "statement")

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._getters: dict[tuple[str, ...], Getter] = {}

    async def rows(self, connection: AsyncConnection, params: Mapping[str, Any]) -> Sequence[Row]:
        result = await connection.execute(self.statement, params)  # type: ignore[call-overload]
        return Records(tuple(result.keys()), result.all(), self._getters)

    async def write(self, connection: AsyncConnection, params: Mapping[str, Any]) -> int:
        result = await connection.execute(self.statement, params)  # type: ignore[call-overload]
        return int(result.rowcount)

    async def write_many(self, connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
        await connection.execute(self.statement, list(rows))  # type: ignore[call-overload]


class DriverPrepared(Prepared):
    """A statement compiled for the driver, run on the pooled connection's driver."""

    __slots__ = ("_core", "_path", "_statement")

    def __init__(self, statement: DriverStatement, path: DriverPath, core: CoreStatement) -> None:
        self._statement, self._path, self._core = statement, path, core

    async def rows(self, connection: AsyncConnection, params: Mapping[str, Any]) -> Sequence[Row]:
        return await self._path.fetch_all(connection, self._statement, params)

    async def row(self, connection: AsyncConnection, params: Mapping[str, Any]) -> Row | None:
        return await self._path.fetch_one(connection, self._statement, params)

    async def write(self, connection: AsyncConnection, params: Mapping[str, Any]) -> int:
        return await self._path.execute(connection, self._statement, params)

    async def write_many(self, connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
        if not await self._path.execute_many(connection, self._statement, rows):
            await self._core.write_many(connection, rows)  # the driver has no faster call


class Executor(ABC):
    """Prepares statements for one way of running them."""

    #: Part of the statement cache's key: statements prepared by one are not the other's.
    key: str
    #: LIMIT / OFFSET are bound parameters (one prepared statement for every page);
    #: SQLAlchemy renders them as literals, which SQL Server and MySQL want.
    binds_limits: bool

    @property
    def returns_generated(self) -> bool:
        """An INSERT's RETURNING brings generated values back: the driver path needs it
        for generated keys (SQLAlchemy's own `return_defaults` works everywhere)."""
        return False

    @abstractmethod
    def prepare(self, statement: ClauseElement, supplied: Collection[str]) -> Prepared:
        """`statement` ready to run; `supplied` names the parameters each call gives."""


class CoreExecutor(Executor):
    key = "core"
    binds_limits = False

    def prepare(self, statement: ClauseElement, supplied: Collection[str]) -> Prepared:
        return CoreStatement(statement)


class DriverExecutor(Executor):
    key = "driver"
    binds_limits = True

    def __init__(self, path: DriverPath) -> None:
        self._path = path

    @property
    def returns_generated(self) -> bool:
        # Known once connected: SQLAlchemy learns MariaDB's version (10.5 has RETURNING).
        return bool(self._path.dialect.insert_returning)

    def prepare(self, statement: ClauseElement, supplied: Collection[str]) -> Prepared:
        core = CoreStatement(statement)
        compiled = self._path.compile(statement, supplied)
        return DriverPrepared(compiled, self._path, core) if compiled.complete else core


class BeginsTransaction(Prepared):
    """A driver statement that may be its transaction's first, where the BEGIN travels
    with it (`Dialect.pipelines_begin`, MySQL / MariaDB).

    SQLAlchemy begins transactions lazily, on its own next statement; a statement sent to
    the driver directly would run outside. So where no transaction is open yet, this one
    is begun in SQLAlchemy and its BEGIN left owed to the statement (`owe_begin`). Other
    dialects need no check per statement: the unit of work begins its transaction, on the
    driver too, when it takes its connection (`session.begin_or_release`).
    """

    __slots__ = ("_inner",)

    def __init__(self, inner: Prepared) -> None:
        self._inner = inner

    async def rows(self, connection: AsyncConnection, params: Mapping[str, Any]) -> Sequence[Row]:
        await _begin_owed(connection)
        return await self._inner.rows(connection, params)

    async def row(self, connection: AsyncConnection, params: Mapping[str, Any]) -> Row | None:
        await _begin_owed(connection)
        return await self._inner.row(connection, params)

    async def write(self, connection: AsyncConnection, params: Mapping[str, Any]) -> int:
        await _begin_owed(connection)
        return await self._inner.write(connection, params)

    async def write_many(self, connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
        await _begin_owed(connection)
        await self._inner.write_many(connection, rows)


async def _begin_owed(connection: AsyncConnection) -> None:
    if not connection.in_transaction():
        owe_begin(connection)  # the driver statement next carries it
        await connection.begin()  # sends nothing: the engine's begin event sees the debt


class TransactionalExecutor(Executor):
    """The driver path inside a unit of work's transaction, on its one connection."""

    key = "driver-in-transaction"
    binds_limits = True

    def __init__(self, driver: DriverExecutor, dialect: Dialect) -> None:
        self._driver, self._dialect = driver, dialect

    @property
    def returns_generated(self) -> bool:
        return self._driver.returns_generated

    def prepare(self, statement: ClauseElement, supplied: Collection[str]) -> Prepared:
        prepared = self._driver.prepare(statement, supplied)
        if self._dialect.pipelines_begin and isinstance(prepared, DriverPrepared):
            return BeginsTransaction(prepared)
        return prepared  # begun with the unit of work's checkout, or by SQLAlchemy's execute


#: The one SQLAlchemy executor: it holds no state.
CORE = CoreExecutor()


def dicts(result: Result[Any]) -> builtins.list[Row]:
    """Rows as plain dicts: building entities from them costs a quarter of `row._mapping`.

    Each row has the result's keys, so zip is not given `strict` (a keyword argument
    takes it off CPython's fast call path: a third of the cost of making the dicts).
    """
    keys = builtins.list(result.keys())
    return [dict(zip(keys, row)) for row in result]  # noqa: B905

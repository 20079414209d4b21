"""The driver path: hot single-row statements sent through the driver's own prepared statements.

Profiled on PostgreSQL, SQLAlchemy's `execute` costs more than the round trip it makes:
compiled-cache lookup, execution context, result metadata, two greenlet switches. A
dialect whose driver caches prepared statements itself (asyncpg) can take the repository's
get / insert / update / delete by key straight to the driver, on the very connection
SQLAlchemy's pool checked out, so pooling, pre-ping and pool metrics do not change.

What stays exactly as on the normal path: the SQL (SQLAlchemy compiles it for the dialect),
value conversion (each type's own bind and result processors) and error translation.
What does not: SQLAlchemy's execute events do not fire for these statements, so the
session turns the path off while anything listens to them (the OpenTelemetry SQLAlchemy
instrumentation, `echo`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, cast

from sqlalchemy.engine import Dialect as SQLAlchemyDialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

Processor = Callable[[Any], Any] | None


class DriverStatement:
    """One Core statement compiled for the driver: positional SQL and its value processors."""

    __slots__ = (
        "_columns",
        "_dialect",
        "_parameters",
        "_result_processors",
        "_types",
        "complete",
        "sql",
    )

    def __init__(
        self, statement: ClauseElement, dialect: SQLAlchemyDialect, supplied: Collection[str]
    ) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        self.sql = compiled.string
        names = tuple(compiled.positiontup or ())
        #: False when SQLAlchemy would add values itself (a Python-side column default, an
        #: onupdate): only its own execute knows how, so the statement takes the normal path.
        self.complete = set(names) <= set(supplied)
        binds = compiled.binds
        self._parameters = tuple(
            (name, binds[name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in names
            if name in binds
        )
        returned = getattr(statement, "exported_columns", ())  # a SELECT's or RETURNING's
        self._columns = tuple(column.key for column in returned)
        self._types = tuple(column.type for column in returned)
        self._dialect = dialect
        self._result_processors: tuple[Processor, ...] | None = None

    def arguments(self, values: Mapping[str, Any]) -> list[Any]:
        """The positional arguments, each converted as SQLAlchemy would bind it."""
        return [
            values[name] if process is None else process(values[name])
            for name, process in self._parameters
        ]

    @property
    def knows_result_types(self) -> bool:
        return self._result_processors is not None

    def learn_result_types(self, driver_types: Sequence[Any]) -> None:
        """Result processors need the driver's type of each column, known once prepared."""
        dialect = self._dialect
        self._result_processors = tuple(
            type_.dialect_impl(dialect).result_processor(dialect, driver_type)
            for type_, driver_type in zip(self._types, driver_types, strict=True)
        )

    def row(self, record: Sequence[Any]) -> dict[str, Any]:
        """A driver row as the repository's mapping, each value converted as SQLAlchemy would."""
        processors = self._result_processors or ()
        return {
            name: value if process is None else process(value)
            for name, process, value in zip(self._columns, processors, record, strict=True)
        }


class DriverPath(ABC):
    """How one driver runs a `DriverStatement` on a pooled SQLAlchemy connection."""

    def __init__(self, dialect: SQLAlchemyDialect) -> None:
        self.dialect = dialect

    def compile(self, statement: ClauseElement, supplied: Collection[str]) -> DriverStatement:
        return DriverStatement(statement, self.dialect, supplied)

    @abstractmethod
    async def fetch_one(
        self,
        connection: AsyncConnection,
        statement: DriverStatement,
        values: Mapping[str, Any],
    ) -> dict[str, Any] | None:
        """The first row `statement` returns (a SELECT or a RETURNING), or None."""

    @abstractmethod
    async def execute(
        self, connection: AsyncConnection, statement: DriverStatement, values: Mapping[str, Any]
    ) -> int:
        """Run a write; the number of rows it matched."""

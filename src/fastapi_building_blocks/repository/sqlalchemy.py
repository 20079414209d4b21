"""The repository contract on SQLAlchemy Core: one `Table`, hot statements built once per class."""

from __future__ import annotations

import builtins
import itertools
from collections.abc import Callable, Collection, Hashable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, ClassVar, Literal

from sqlalchemy import Integer, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Delete, Insert, Select
from sqlalchemy.sql.expression import Executable

from ..database import DatabaseSession, translate_error
from ..dialects import Conflict
from ..dialects.driver_path import DriverPath, DriverStatement
from ..errors import UniqueViolationError
from . import sql_conditions
from .contract import E, K, Repository, observed
from .policy import Checked, is_integer_column
from .query import Sort

#: Distinct query shapes kept per repository class before the cache starts over.
MAX_CACHED_SHAPES = 512

#: What a connection is for: reads (never committed), one write statement (atomic by
#: itself), or a transaction around several statements.
Purpose = Literal["read", "write", "transaction"]


class SQLAlchemyRepository(Repository[E, K]):
    """CRUD on a Core `Table` through a `DatabaseSession` or a `UnitOfWork`.

    Outside a unit of work each call is atomic on its own: one statement, or one
    transaction where a call needs several (bulk_create, upsert).
    """

    _select_by_key: ClassVar[Select[Any]]
    _insert: ClassVar[Insert]
    _delete_by_key: ClassVar[Delete]
    _defaulted: ClassVar[frozenset[str]]
    #: Statements built once per query shape; values are always bound parameters.
    _statements: ClassVar[dict[Hashable, Any]]

    def __init__(self, session: DatabaseSession) -> None:
        self.session = session
        self._dialect = session.dialect

    @classmethod
    def _bind_table(cls) -> None:
        super()._bind_table()
        table = cls.table
        key_column = table.columns[cls._key]
        live = sql_conditions.filter_clauses(cls._managed.live_condition())
        cls._select_by_key = select(table).where(key_column == bindparam("key"), *live)
        cls._statements = {}
        cls._insert = table.insert()
        cls._delete_by_key = delete(table).where(key_column == bindparam("key"))
        cls._defaulted = frozenset(
            column.key
            for column in table.columns
            if column.default is not None
            or column.server_default is not None
            or column.autoincrement is True
            or (column.primary_key and column.autoincrement == "auto" and is_integer_column(column))
        )

    def _observed_database(self) -> tuple[str, str | None, str | None]:
        session = self.session
        return session.system_name, session.database_name, session.pool_name

    def _connection(self, purpose: Purpose = "read") -> _TranslatingConnection:
        """A connection for reads, one write, or a transaction; driver errors translated."""
        session = self.session
        context = (
            session.connection() if purpose == "read"
            else session.statement() if purpose == "write"
            else session.transaction()
        )  # fmt: skip
        return _TranslatingConnection(context, self)

    # -- the repository's own queries -------------------------------------------------

    @observed("query")
    async def query(
        self, statement: Executable, params: Mapping[str, Any] | None = None
    ) -> builtins.list[Mapping[str, Any]]:
        """Rows of a Core statement of the subclass's own, as dicts.

        The same connection handling, error translation and hooks as every built-in
        operation; on a unit of work it runs in the unit of work's transaction.

            async def totals_by_customer(self) -> list[dict[str, Any]]:
                statement = select(orders.c.customer_id, func.sum(orders.c.amount))
                return await self.query(self.live(statement.group_by(orders.c.customer_id)))
        """
        async with self._connection() as connection:
            return _dicts(await connection.execute(statement, params or {}))

    @observed("execute")
    async def execute(self, statement: Executable, params: Mapping[str, Any] | None = None) -> int:
        """Run one write statement of the subclass's own, atomically; the rows it matched."""
        async with self._connection("write") as connection:
            result = await connection.execute(statement, params or {})
            return int(getattr(result, "rowcount", -1))

    def live(self, statement: Select[Any]) -> Select[Any]:
        """`statement` restricted to rows that are not soft-deleted (as every read is)."""
        return statement.where(*sql_conditions.filter_clauses(self._managed.live_condition()))

    # -- reads ------------------------------------------------------------------------

    async def _get_row(self, key: Any) -> Mapping[Any, Any] | None:
        path = self.session.driver_path
        if path is not None and (
            fast := self._driver_statement(path, "get", lambda: self._select_by_key, ("key",))
        ):
            async with self._connection() as connection:
                return await path.fetch_one(connection, fast, {"key": key})
        async with self._connection() as connection:
            rows = _dicts(await connection.execute(self._select_by_key, {"key": key}))
        return rows[0] if rows else None

    def _statement(self, shape: Hashable, build: Callable[[], Any]) -> Any:
        """The statement for `shape` on this repository's dialect, built on first use."""
        statements = self._statements
        shape = (self._dialect.name, shape)  # ORDER BY differs between dialects
        statement = statements.get(shape)
        if statement is None:
            if len(statements) >= MAX_CACHED_SHAPES:
                statements.clear()  # callers are inventing shapes: stay bounded
            statement = statements[shape] = build()
        return statement

    def _driver_statement(
        self,
        path: DriverPath,
        shape: Hashable,
        build: Callable[[], Any],
        supplied: Collection[str],
    ) -> DriverStatement | None:
        """The statement for `shape` compiled for the driver path; None if it cannot take it."""
        statement: DriverStatement = self._statement(
            ("driver", shape), lambda: path.compile(build(), supplied)
        )
        return statement if statement.complete else None

    def _select(
        self,
        filters: Sequence[Checked],
        sort: Sequence[Sort],
        limit: int | None,
        offset: int,
        after: Sequence[Any] | None,
        path: DriverPath | None = None,
    ) -> tuple[Any, dict[str, Any]]:
        """The SELECT for a page of rows and its parameters; for `path` if it can take it."""
        if limit is not None and not sort and self._dialect.paging_needs_order:
            sort = [Sort(self._key)]
        nulls = sql_conditions.position_shape(after)
        shape = (
            "select", sql_conditions.filter_shape(filters), tuple(map(str, sort)),
            nulls, limit is not None, offset > 0,
        )  # fmt: skip

        def build() -> Select[Any]:
            # SQLAlchemy renders LIMIT / OFFSET as literals (SQL Server and MySQL want it);
            # the driver path binds them, so one prepared statement serves every page.
            literal = path is None
            statement = select(self.table).where(*sql_conditions.filter_clauses(filters))
            if nulls is not None:
                statement = statement.where(
                    sql_conditions.after_position(self._policy, sort, nulls)
                )
            if sort:
                statement = statement.order_by(
                    *sql_conditions.order_by(self._policy, self._dialect, sort)
                )
            if limit is not None:
                statement = statement.limit(
                    bindparam("limit", type_=Integer, literal_execute=literal)
                )
            if offset > 0:
                statement = statement.offset(
                    bindparam("offset", type_=Integer, literal_execute=literal)
                )
            return statement

        params = sql_conditions.filter_params(filters)
        if after is not None:
            params.update(sql_conditions.position_params(after))
        if limit is not None:
            params["limit"] = limit
        if offset > 0:
            params["offset"] = offset
        if path is not None:
            fast = self._driver_statement(path, shape, build, params)
            if fast is not None:
                return fast, params
        return self._statement(shape, build), params

    def _count_statement(
        self, filters: Sequence[Checked], path: DriverPath | None = None
    ) -> tuple[Any, dict[str, Any]]:
        def build() -> Select[Any]:
            statement = select(func.count()).select_from(self.table)
            return statement.where(*sql_conditions.filter_clauses(filters))

        shape = ("count", sql_conditions.filter_shape(filters))
        params = sql_conditions.filter_params(filters)
        if path is not None and (fast := self._driver_statement(path, shape, build, params)):
            return fast, params
        return self._statement(shape, build), params

    async def _fetch_rows(
        self,
        filters: Sequence[Checked],
        sort: Sequence[Sort],
        limit: int | None,
        offset: int,
        after: Sequence[Any] | None,
    ) -> builtins.list[Mapping[Any, Any]]:
        path = self.session.driver_path
        statement, params = self._select(filters, sort, limit, offset, after, path)
        async with self._connection() as connection:
            return await self._rows(connection, path, statement, params)

    async def _count_and_fetch(
        self, filters: Sequence[Checked], sort: Sequence[Sort], limit: int, offset: int
    ) -> tuple[int, builtins.list[Mapping[Any, Any]]]:
        path = self.session.driver_path
        page, page_params = self._select(filters, sort, limit, offset, None, path)
        count, count_params = self._count_statement(filters, path)
        async with self._connection() as connection:
            total = (await self._rows(connection, path, count, count_params))[0]
            rows = await self._rows(connection, path, page, page_params)
            return int(next(iter(total.values()))), rows

    async def _count(self, filters: Sequence[Checked]) -> int:
        path = self.session.driver_path
        statement, params = self._count_statement(filters, path)
        async with self._connection() as connection:
            total = (await self._rows(connection, path, statement, params))[0]
            return int(next(iter(total.values())))

    @staticmethod
    async def _rows(
        connection: AsyncConnection, path: DriverPath | None, statement: Any, params: Any
    ) -> builtins.list[Mapping[Any, Any]]:
        """The rows of a SELECT built by `_select` or `_count_statement`, by either path."""
        if isinstance(statement, DriverStatement):
            assert path is not None  # a DriverStatement only ever comes with its path
            return list(await path.fetch_all(connection, statement, params))
        return _dicts(await connection.execute(statement, params))

    # -- writes -----------------------------------------------------------------------

    def _without_defaulted_nones(self, values: dict[str, Any]) -> dict[str, Any]:
        """A defaulted column left None gets its default (e.g. a generated key)."""
        for name in self._defaulted:
            if name in values and values[name] is None:
                del values[name]
        return values

    async def _insert_one(self, values: dict[str, Any]) -> Mapping[Any, Any]:
        values = self._without_defaulted_nones(values)
        missing = [name for name in self._mapped_fields if name not in values]
        path = self.session.driver_path
        if path is not None and (fast := self._driver_insert(path, tuple(values), missing)):
            async with self._connection("write") as connection:
                if missing:  # generated by the database: RETURNING brings them back
                    values.update(await path.fetch_one(connection, fast, values) or {})
                else:
                    await path.execute(connection, fast, values)
            return values
        statement = self._insert.return_defaults() if missing else self._insert
        async with self._connection("write") as connection:
            result = await connection.execute(statement, values)
        if missing:
            generated = result.returned_defaults
            defaults = generated._mapping if generated is not None else {}
            key = result.inserted_primary_key
            values[self._key] = key[0] if key is not None else None
            for name in missing:
                values.setdefault(name, defaults.get(name))
        return values

    def _driver_insert(
        self, path: DriverPath, given: tuple[str, ...], missing: builtins.list[str]
    ) -> DriverStatement | None:
        if missing and not path.dialect.insert_returning:
            return None  # MySQL: only SQLAlchemy's execute knows the generated key

        def build() -> Any:
            statement = insert(self.table).values({name: bindparam(name) for name in given})
            if missing:
                return statement.returning(*(self.table.columns[name] for name in missing))
            return statement

        return self._driver_statement(path, ("insert", given, tuple(missing)), build, given)

    async def _insert_many(self, rows: builtins.list[dict[str, Any]], batch_size: int) -> int:
        rows = [self._without_defaulted_nones(row) for row in rows]
        async with self._connection("transaction") as connection:
            if await self._dialect.bulk_insert(connection, self.table, rows):
                return len(rows)
            path = self.session.driver_path
            for start in range(0, len(rows), batch_size):
                for batch in _same_columns(rows[start : start + batch_size]):
                    if not await self._insert_through_driver(path, connection, batch):
                        await connection.execute(self._insert, batch)
        return len(rows)

    async def _insert_through_driver(
        self,
        path: DriverPath | None,
        connection: AsyncConnection,
        rows: builtins.list[dict[str, Any]],
    ) -> bool:
        """One executemany straight to the driver, where it has a path that can take it."""
        if path is None or (statement := self._driver_insert(path, tuple(rows[0]), [])) is None:
            return False
        return await path.execute_many(connection, statement, rows)

    async def _update_key(
        self, key: Any, values: Mapping[str, Any], conditions: Sequence[Checked]
    ) -> bool:
        def build() -> Any:
            return (
                update(self.table)
                .where(
                    self.table.columns[self._key] == bindparam("key"),
                    *sql_conditions.filter_clauses(conditions, prefix="c"),
                )
                .values({name: bindparam(f"new_{name}") for name in values})
            )

        shape = ("update", tuple(values), sql_conditions.filter_shape(conditions))
        params = {f"new_{name}": value for name, value in values.items()}
        params.update(sql_conditions.filter_params(conditions, prefix="c"), key=key)
        path = self.session.driver_path
        if path is not None and (fast := self._driver_statement(path, shape, build, params)):
            async with self._connection("write") as connection:
                return await path.execute(connection, fast, params) > 0
        async with self._connection("write") as connection:
            result = await connection.execute(self._statement(shape, build), params)
            return result.rowcount > 0

    async def _update_returning(
        self, key: Any, values: Mapping[str, Any], conditions: Sequence[Checked]
    ) -> Mapping[Any, Any] | None:
        table, version = self.table, self._managed.version
        returning = self._dialect.update_returning

        def build() -> Any:
            changes: dict[str, Any] = {name: bindparam(f"new_{name}") for name in values}
            if version is not None:
                changes[version] = table.columns[version] + 1
            statement = (
                update(table)
                .where(
                    table.columns[self._key] == bindparam("key"),
                    *sql_conditions.filter_clauses(conditions, prefix="c"),
                )
                .values(changes)
            )
            return statement.returning(*table.columns) if returning else statement

        shape = ("update_returning", tuple(values), sql_conditions.filter_shape(conditions))
        params = {f"new_{name}": value for name, value in values.items()}
        params.update(sql_conditions.filter_params(conditions, prefix="c"), key=key)
        path = self.session.driver_path
        if returning:
            if path is not None and (fast := self._driver_statement(path, shape, build, params)):
                async with self._connection("write") as connection:
                    return await path.fetch_one(connection, fast, params)
            async with self._connection("write") as connection:
                rows = _dicts(await connection.execute(self._statement(shape, build), params))
            return rows[0] if rows else None
        # No UPDATE ... RETURNING (MySQL / MariaDB): read the row back in the same transaction.
        async with self._connection("transaction") as connection:
            result = await connection.execute(self._statement(shape, build), params)
            if result.rowcount == 0:
                return None
            rows = _dicts(await connection.execute(self._select_by_key, {"key": key}))
        return rows[0] if rows else None

    async def _update_where(self, filters: Sequence[Checked], values: Mapping[str, Any]) -> int:
        changes: dict[str, Any] = dict(values)
        if (version := self._managed.version) is not None:
            changes[version] = self.table.columns[version] + 1
        statement = (
            update(self.table).where(*sql_conditions.filter_clauses(filters)).values(changes)
        )
        async with self._connection("write") as connection:
            result = await connection.execute(statement, sql_conditions.filter_params(filters))
            return result.rowcount

    async def _delete_key(self, key: Any) -> bool:
        path = self.session.driver_path
        if path is not None and (
            fast := self._driver_statement(path, "delete", lambda: self._delete_by_key, ("key",))
        ):
            async with self._connection("write") as connection:
                return await path.execute(connection, fast, {"key": key}) > 0
        async with self._connection("write") as connection:
            return (await connection.execute(self._delete_by_key, {"key": key})).rowcount > 0

    async def _delete_where(self, filters: Sequence[Checked]) -> int:
        statement = delete(self.table).where(*sql_conditions.filter_clauses(filters))
        async with self._connection("write") as connection:
            result = await connection.execute(statement, sql_conditions.filter_params(filters))
            return result.rowcount

    async def _upsert(
        self, values: dict[str, Any], conflict_columns: tuple[str, ...], updates: builtins.list[str]
    ) -> Mapping[Any, Any]:
        conflict = Conflict(conflict_columns, updates, self._managed.version)
        statement = self._dialect.upsert(self.table, values, conflict)
        lookup = select(self.table).where(
            *(self.table.columns[name] == values[name] for name in conflict_columns)
        )
        async with self._connection("transaction") as connection:
            await connection.execute(statement)
            row = (await connection.execute(lookup)).first()
            if row is None:
                # MySQL / MariaDB updated the row that matched on another unique key: the
                # transaction rolls that back, and the caller hears what the others say.
                raise UniqueViolationError(
                    f"{self.table.name}: the row clashes with another on a unique key "
                    f"other than ({', '.join(conflict_columns)})",
                    table=self.table.name,
                )
            return row._mapping


def _dicts(result: Result[Any]) -> builtins.list[Mapping[Any, Any]]:
    """Rows as plain dicts: building entities from them costs a quarter of `row._mapping`."""
    keys = builtins.list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result]


def _same_columns(rows: builtins.list[dict[str, Any]]) -> Iterator[builtins.list[dict[str, Any]]]:
    """Runs of consecutive rows naming the same columns: one executemany each.

    A row that left out a defaulted column (no key given) must not share a statement
    with rows that name it: filling in NULL would bypass the default.
    """
    for _, run in itertools.groupby(rows, key=lambda row: row.keys()):
        yield builtins.list(run)


class _TranslatingConnection:
    """Enters a session's connection context; driver errors leave it as package errors.

    A class rather than a generator-based context manager: it runs on every call.
    """

    __slots__ = ("_context", "_repository")

    def __init__(
        self, context: AbstractAsyncContextManager[AsyncConnection], repository: Any
    ) -> None:
        self._context = context
        self._repository = repository

    async def __aenter__(self) -> AsyncConnection:
        try:
            return await self._context.__aenter__()
        except Exception as error:
            raise self._translated(error) from error

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            await self._context.__aexit__(exc_type, exc, traceback)
        except Exception as error:
            raise self._translated(error) from error
        if isinstance(exc, Exception):
            translated = self._translated(exc)
            if translated is not exc:
                raise translated from exc

    def _translated(self, error: Exception) -> Exception:
        repository = self._repository
        return translate_error(error, repository._dialect, repository.table) or error

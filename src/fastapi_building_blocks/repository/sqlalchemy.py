"""The repository contract on SQLAlchemy Core: one `Table`, hot statements built once per class."""

from __future__ import annotations

import builtins
import functools
import itertools
from collections.abc import Awaitable, Callable, Collection, Hashable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, ClassVar, Literal, TypeVar

from sqlalchemy import Integer, bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Delete, Insert, Select
from sqlalchemy.sql.expression import Executable

from ..database import DatabaseSession, translate_error
from ..database.executor import Executor, Prepared, dicts
from ..database.translate import lost_outcome
from ..dialects import Conflict
from ..errors import UniqueViolationError
from . import sql_conditions
from .contract import E, K, Repository, observed
from .policy import Checked, is_integer_column
from .query import Sort, SortOrder

#: Distinct query shapes kept per repository class before the cache starts over.
MAX_CACHED_SHAPES = 512

#: What a connection is for: reads (never committed), one write statement (atomic by
#: itself), or a transaction around several statements.
T = TypeVar("T")
Purpose = Literal["write", "transaction"]


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
        if not isinstance(session, DatabaseSession):
            raise TypeError(
                f"{type(self).__name__} runs on a SQLAlchemySession or a UnitOfWork, not a "
                f"{type(session).__name__}; an InMemoryDatabase takes an InMemoryRepository "
                "of the same table"
            )
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

    def _observed_database(
        self,
    ) -> tuple[str, str | None, str | None, tuple[str | None, int | None]]:
        session = self.session
        return session.system_name, session.database_name, session.pool_name, session.server

    def _connection(self, purpose: Purpose) -> _TranslatingConnection:
        """A connection for one write or a transaction; driver errors translated."""
        session = self.session
        context = session.statement() if purpose == "write" else session.transaction()
        return _TranslatingConnection(context, self, purpose, session.commits_its_writes)

    async def _read(
        self, run: Callable[[AsyncConnection], Awaitable[T]], *, on_primary: bool = False
    ) -> T:
        """`run` on the session's connection for reads (a replica's, where it has them);
        driver errors translated."""
        try:
            return await self.session.read(run, on_primary=on_primary)
        except Exception as error:
            raise _translated(error, self) from error

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

        async def run(connection: AsyncConnection) -> builtins.list[Mapping[str, Any]]:
            return dicts(await connection.execute(statement, params or {}))

        # A locking read (SELECT ... FOR UPDATE) goes to the primary. SQLAlchemy keeps the
        # lock clause in an attribute of its own only; Select has no public accessor.
        return await self._read(
            run, on_primary=getattr(statement, "_for_update_arg", None) is not None
        )

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

    def _prepared(
        self,
        shape: Hashable,
        build: Callable[[Executor], Any],
        supplied: Collection[str],
    ) -> Prepared:
        """The statement for `shape`, built and prepared by the session's executor once.

        The executor is the session's choice (driver or SQLAlchemy); `build` may ask it
        how to write the statement (bound or literal LIMIT).
        """
        executor = self.session.executor
        statements = self._statements
        key = (self._dialect.name, executor.key, shape)  # ORDER BY differs between dialects
        prepared: Prepared | None = statements.get(key)
        if prepared is None:
            if len(statements) >= MAX_CACHED_SHAPES:
                statements.clear()  # callers are inventing shapes: stay bounded
            prepared = statements[key] = executor.prepare(build(executor), supplied)
        return prepared

    async def _get_row(self, key: Any) -> Mapping[Any, Any] | None:
        prepared = self._prepared("get", lambda _: self._select_by_key, ("key",))
        return await self._read(lambda connection: prepared.row(connection, {"key": key}))

    def _select(
        self,
        filters: Sequence[Checked],
        sort: SortOrder,
        limit: int | None,
        offset: int,
        after: Sequence[Any] | None,
    ) -> tuple[Prepared, dict[str, Any]]:
        """The SELECT for a page of rows, and its parameters."""
        if limit is not None and not sort and self._dialect.paging_needs_order:
            sort = SortOrder((Sort(self._key),))
        nulls = sql_conditions.position_shape(after)
        shape = (
            "select", sql_conditions.filter_shape(filters), sort.signature,
            nulls, limit is not None, offset > 0,
        )  # fmt: skip

        def build(executor: Executor) -> Select[Any]:
            # A bound LIMIT / OFFSET lets one prepared statement serve every page.
            literal = not executor.binds_limits
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
        return self._prepared(shape, build, params), params

    def _count_statement(self, filters: Sequence[Checked]) -> tuple[Prepared, dict[str, Any]]:
        def build(_: Executor) -> Select[Any]:
            statement = select(func.count()).select_from(self.table)
            return statement.where(*sql_conditions.filter_clauses(filters))

        params = sql_conditions.filter_params(filters)
        shape = ("count", sql_conditions.filter_shape(filters))
        return self._prepared(shape, build, params), params

    async def _fetch_rows(
        self,
        filters: Sequence[Checked],
        sort: SortOrder,
        limit: int | None,
        offset: int,
        after: Sequence[Any] | None,
    ) -> Sequence[Mapping[Any, Any]]:
        prepared, params = self._select(filters, sort, limit, offset, after)
        return await self._read(lambda connection: prepared.rows(connection, params))

    async def _count_and_fetch(
        self, filters: Sequence[Checked], sort: SortOrder, limit: int, offset: int
    ) -> tuple[int, Sequence[Mapping[Any, Any]]]:
        page, page_params = self._select(filters, sort, limit, offset, None)
        count, count_params = self._count_statement(filters)

        async def run(connection: AsyncConnection) -> tuple[int, Sequence[Mapping[Any, Any]]]:
            total = await count.row(connection, count_params)
            return _first_value(total), await page.rows(connection, page_params)

        return await self._read(run)

    async def _count(self, filters: Sequence[Checked]) -> int:
        count, params = self._count_statement(filters)
        return _first_value(await self._read(lambda connection: count.row(connection, params)))

    # -- writes -----------------------------------------------------------------------

    def _without_defaulted_nones(self, values: dict[str, Any]) -> dict[str, Any]:
        """A defaulted column left None gets its default (e.g. a generated key)."""
        for name in self._defaulted:
            if name in values and values[name] is None:
                del values[name]
        return values

    def _inserting(self, given: tuple[str, ...], returned: tuple[str, ...] = ()) -> Prepared:
        def build(_: Executor) -> Any:
            statement = insert(self.table).values({name: bindparam(name) for name in given})
            if returned:
                return statement.returning(*(self.table.columns[name] for name in returned))
            return statement

        return self._prepared(("insert", given, returned), build, given)

    async def _insert_one(self, values: dict[str, Any]) -> Mapping[Any, Any]:
        values = self._without_defaulted_nones(values)
        missing = tuple(name for name in self._mapped_fields if name not in values)
        if missing and not self.session.executor.returns_generated:
            return await self._insert_with_defaults(values, missing)
        prepared = self._inserting(tuple(values), missing)
        async with self._connection("write") as connection:
            if missing:  # generated by the database: RETURNING brings them back
                values.update(await prepared.row(connection, values) or {})
            else:
                await prepared.write(connection, values)
        return values

    async def _insert_with_defaults(
        self, values: dict[str, Any], missing: tuple[str, ...]
    ) -> Mapping[Any, Any]:
        """Generated values through SQLAlchemy's `return_defaults`: the one way that also
        knows MySQL's (its generated key comes from the driver's lastrowid)."""
        async with self._connection("write") as connection:
            result = await connection.execute(self._insert.return_defaults(), values)
        generated = result.returned_defaults
        defaults = generated._mapping if generated is not None else {}
        key = result.inserted_primary_key
        values[self._key] = key[0] if key is not None else None
        for name in missing:
            values.setdefault(name, defaults.get(name))
        return values

    async def _insert_many(self, rows: builtins.list[dict[str, Any]], batch_size: int) -> int:
        rows = [self._without_defaulted_nones(row) for row in rows]
        async with self._connection("transaction") as connection:
            if await self._dialect.bulk_insert(connection, self.table, rows):
                return len(rows)
            for start in range(0, len(rows), batch_size):
                for batch in _same_columns(rows[start : start + batch_size]):
                    await self._inserting(tuple(batch[0])).write_many(connection, batch)
        return len(rows)

    def _updating(
        self,
        key: Any,
        values: Mapping[str, Any],
        *,
        deleted: bool = False,
        expected_version: Any = None,
        returning: bool = False,
    ) -> tuple[Prepared, dict[str, Any]]:
        """UPDATE of the row `key`, live or `deleted`, at `expected_version` if given,
        setting `values`; its parameters.

        The row's state and version are the statement's own conditions, not the filter
        language's: an update by key is the hottest write, and its shape is known from
        three flags. With `returning` (used by update_fields) the version, if any and not
        in `values`, is incremented in SQL and the row comes back.
        """
        table, managed = self.table, self._managed
        version = managed.version
        checks_version = expected_version is not None
        bumps = returning and version is not None and version not in values

        def build(_: Executor) -> Any:
            changes = _set_clause(values)
            if bumps:
                changes[str(version)] = table.columns[str(version)] + 1
            where = [
                table.columns[self._key] == bindparam("key"),
                # IS [NOT] NULL: nothing to bind
                *sql_conditions.filter_clauses(managed.state_condition(deleted)),
            ]
            if checks_version:
                where.append(table.columns[str(version)] == bindparam("expected"))
            statement = update(table).where(*where).values(changes)
            if returning and self._dialect.update_returning:
                return statement.returning(*table.columns)
            return statement

        shape = ("update", tuple(values), deleted, checks_version, returning)
        params = _set_params(values)
        params["key"] = key
        if checks_version:
            params["expected"] = expected_version
        return self._prepared(shape, build, params), params

    async def _update_key(
        self,
        key: Any,
        values: Mapping[str, Any],
        *,
        deleted: bool = False,
        expected_version: Any = None,
    ) -> bool:
        prepared, params = self._updating(
            key, values, deleted=deleted, expected_version=expected_version
        )
        async with self._connection("write") as connection:
            return await prepared.write(connection, params) > 0

    async def _update_returning(
        self, key: Any, values: Mapping[str, Any], expected_version: Any
    ) -> Mapping[Any, Any] | None:
        prepared, params = self._updating(
            key, values, expected_version=expected_version, returning=True
        )
        if self._dialect.update_returning:
            async with self._connection("write") as connection:
                return await prepared.row(connection, params)
        # No UPDATE ... RETURNING (MySQL / MariaDB): read the row back in the same transaction.
        reading = self._prepared("get", lambda _: self._select_by_key, ("key",))
        async with self._connection("transaction") as connection:
            if await prepared.write(connection, params) == 0:
                return None
            return await reading.row(connection, {"key": key})

    async def _update_where(self, filters: Sequence[Checked], values: Mapping[str, Any]) -> int:
        table, version = self.table, self._managed.version

        def build(_: Executor) -> Any:
            changes = _set_clause(values)
            if version is not None:
                changes[version] = table.columns[version] + 1
            return update(table).where(*sql_conditions.filter_clauses(filters)).values(changes)

        params = sql_conditions.filter_params(filters)
        params.update(_set_params(values))
        shape = ("update_where", tuple(values), sql_conditions.filter_shape(filters))
        prepared = self._prepared(shape, build, params)
        async with self._connection("write") as connection:
            return await prepared.write(connection, params)

    async def _delete_key(self, key: Any) -> bool:
        prepared = self._prepared("delete", lambda _: self._delete_by_key, ("key",))
        async with self._connection("write") as connection:
            return await prepared.write(connection, {"key": key}) > 0

    async def _delete_where(self, filters: Sequence[Checked]) -> int:
        def build(_: Executor) -> Any:
            return delete(self.table).where(*sql_conditions.filter_clauses(filters))

        params = sql_conditions.filter_params(filters)
        shape = ("delete_where", sql_conditions.filter_shape(filters))
        prepared = self._prepared(shape, build, params)
        async with self._connection("write") as connection:
            return await prepared.write(connection, params)

    async def _upsert(
        self, values: dict[str, Any], conflict_columns: tuple[str, ...], updates: builtins.list[str]
    ) -> Mapping[Any, Any]:
        # Built per call: each dialect spells its upsert with the values in it.
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


@functools.lru_cache(maxsize=MAX_CACHED_SHAPES)
def _new_names(columns: tuple[str, ...]) -> tuple[str, ...]:
    """The parameters an UPDATE sets `columns` from: apart from `key`, `expected` and the
    filters' (`f0`, ...), whatever the columns are called."""
    return tuple(f"new_{name}" for name in columns)


def _set_clause(values: Mapping[str, Any]) -> dict[str, Any]:
    """An UPDATE's SET: each column from its parameter (see `_set_params`)."""
    return {
        name: bindparam(parameter)
        for name, parameter in zip(values, _new_names(tuple(values)))  # noqa: B905
    }


def _set_params(values: Mapping[str, Any]) -> dict[str, Any]:
    """The values for `_set_clause(values)`, by parameter name."""
    return dict(zip(_new_names(tuple(values)), values.values()))  # noqa: B905 - same keys


def _first_value(row: Mapping[Any, Any] | None) -> int:
    assert row is not None  # a COUNT always returns its row
    return int(next(iter(row.values())))


def _same_columns(rows: builtins.list[dict[str, Any]]) -> Iterator[builtins.list[dict[str, Any]]]:
    """Runs of consecutive rows naming the same columns: one executemany each.

    A row that left out a defaulted column (no key given) must not share a statement
    with rows that name it: filling in NULL would bypass the default.
    """
    for _, run in itertools.groupby(rows, key=lambda row: row.keys()):
        yield builtins.list(run)


class _TranslatingConnection:
    """Enters a session's connection context; driver errors leave it as package errors.

    Where the write commits by itself (a lone statement outside a unit of work; a
    transaction's COMMIT on exit), a reply lost after it was sent is a
    CommitOutcomeUnknownError: the server may have stored it. Failing before that
    (checking a connection out) or inside a transaction still open stays what it is.

    A class rather than a generator-based context manager: it runs on every call.
    """

    __slots__ = ("_body_commits", "_context", "_exit_commits", "_repository")

    def __init__(
        self,
        context: AbstractAsyncContextManager[AsyncConnection],
        repository: Any,
        purpose: Purpose,
        commits: bool,
    ) -> None:
        self._context = context
        self._repository = repository
        self._body_commits = commits and purpose == "write"  # the lone statement itself
        self._exit_commits = commits  # a transaction's COMMIT on a clean exit

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
        except Exception as error:  # a transaction's COMMIT, when the body succeeded
            raise self._translated(error, committed=self._exit_commits and exc is None) from error
        if isinstance(exc, Exception):
            translated = self._translated(exc, committed=self._body_commits)
            if translated is not exc:
                raise translated from exc

    def _translated(self, error: Exception, *, committed: bool = False) -> Exception:
        translated = _translated(error, self._repository)
        if committed:
            lost = lost_outcome(error, translated, self._repository.table.name)
            if lost is not None:
                return lost
        return translated


def _translated(error: Exception, repository: Any) -> Exception:
    """The package error for a driver error on `repository`'s table; others unchanged."""
    return translate_error(error, repository._dialect, repository.table) or error

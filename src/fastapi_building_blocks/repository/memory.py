"""The repository contract held in dicts: for unit tests and demos, no I/O.

It keeps the rules the database would: unique keys, NOT NULL, foreign keys between tables
of the same `InMemoryDatabase` with their ON DELETE actions, auto-increment keys, column
defaults and literal server defaults. CHECK constraints are SQL text and are not
evaluated here.

    database = InMemoryDatabase()
    users = InMemoryUserRepository(database)
"""

from __future__ import annotations

import builtins
import copy
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Column, ForeignKeyConstraint, Table
from sqlalchemy.sql import functions
from sqlalchemy.sql.elements import False_, TextClause, True_

from ..columns import UTCDateTime
from ..errors import (
    ForeignKeyViolationError,
    NotNullViolationError,
    UniqueViolationError,
)
from . import memory_conditions
from .contract import E, K, Repository
from .policy import Checked, QueryPolicy, is_integer_column
from .query import Sort, SortOrder

Row = dict[str, Any]
UniqueIndexes = dict[tuple[str, ...], dict[tuple[Any, ...], Any]]
Undo = Callable[[], None]
#: One row to put (or, with None, to remove) under a key of a table.
Change = tuple[Table, Any, Row | None]


def server_default_of(column: Column[Any], policy: QueryPolicy) -> Callable[[], Any]:
    """The value the database would give a column from its `server_default`.

    Literals (`"0"`, `text("'new'")`, `true()`) and the current time (`func.now()`,
    `CURRENT_TIMESTAMP`) are evaluated; anything else is SQL only a database can run, so
    the repository refuses to pretend (TypeError naming the column).
    """
    default = getattr(column.server_default, "arg", None)
    if isinstance(default, True_ | False_):
        flag = isinstance(default, True_)
        return lambda: flag
    if isinstance(default, functions.now | functions.current_timestamp) or (
        isinstance(default, TextClause) and default.text.upper() in ("CURRENT_TIMESTAMP", "NOW()")
    ):
        return lambda: datetime.now(UTC)
    literal = default.text if isinstance(default, TextClause) else default
    if isinstance(literal, str):
        value = policy.coerce(column.key, literal.strip().strip("'"))
        return lambda: value
    raise TypeError(
        f"{column.table.name}.{column.key}: the in-memory repository cannot evaluate its "
        f"server_default ({default}); give the column a Python-side default as well"
    )


class InMemoryDatabase:
    """Rows of every table its repositories serve, keyed by primary key."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[Any, Row]] = {}
        self.schemas: dict[str, Table] = {}
        #: table -> unique column set -> values -> primary key: O(1) uniqueness checks.
        self.unique_indexes: dict[str, dict[tuple[str, ...], dict[tuple[Any, ...], Any]]] = {}
        self._last_ids: dict[str, int] = {}
        #: Events its units of work published and committed (the outbox's twin).
        self.published: list[Any] = []

    def index_of(self, table: Table, keys: Iterable[tuple[str, ...]]) -> UniqueIndexes:
        indexes = self.unique_indexes.setdefault(table.name, {})
        for key in keys:
            indexes.setdefault(key, {})
        return indexes

    def rows_of(self, table: Table) -> dict[Any, Row]:
        self.schemas.setdefault(table.name, table)
        return self.tables.setdefault(table.name, {})

    def put(self, table: Table, key: Any, row: Row | None) -> Row | None:
        """Put `row` under `key` (None removes it), keeping the unique indexes in step.

        Returns the row that was there, so the change can be undone.
        """
        rows = self.rows_of(table)
        old = rows.pop(key, None)
        for names, index in self.unique_indexes.get(table.name, {}).items():
            if old is not None:
                index.pop(tuple(old[name] for name in names), None)
            if row is not None:
                values = tuple(row[name] for name in names)
                if None not in values:  # SQL unique keys let NULLs repeat
                    index[values] = key
        if row is not None:
            rows[key] = row
        return old

    def next_id(self, table: Table) -> int:
        self._last_ids[table.name] = self._last_ids.get(table.name, 0) + 1
        return self._last_ids[table.name]


class HasInMemoryDatabase(Protocol):
    """What an in-memory unit of work offers its repositories."""

    @property
    def database(self) -> InMemoryDatabase: ...

    def fail(self, error: BaseException) -> None:
        """Told of a failed write, as a database transaction would be."""

    def check_usable(self) -> None:
        """Raise if an earlier failure means nothing more may happen."""

    def remember(self, undo: Undo) -> None:
        """Keep `undo` to reverse one change if the unit of work rolls back."""


class InMemoryRepository(Repository[E, K]):
    """The same contract and errors as `SQLAlchemyRepository`, on an `InMemoryDatabase`."""

    def __init__(self, database: InMemoryDatabase | HasInMemoryDatabase | None = None) -> None:
        if database is None:
            database = InMemoryDatabase()
        if isinstance(database, InMemoryDatabase):
            self.database = database
            self._fail: Callable[[BaseException], None] = lambda error: None
            self._check_usable: Callable[[], None] = lambda: None
            self._remember: Callable[[Undo], None] = lambda undo: None
        else:
            self.database = database.database
            self._fail = database.fail
            self._check_usable = database.check_usable
            self._remember = database.remember
        self._table_rows = self.database.rows_of(self.table)
        self._server_defaults = {
            column.key: server_default_of(column, self._policy)
            for column in self.table.columns
            if column.server_default is not None
        }
        unique_keys = [tuple(sorted(key)) for key in self._policy.unique_keys]
        self._unique = self.database.index_of(self.table, unique_keys)

    @property
    def _rows(self) -> dict[Any, Row]:
        """Every operation reaches the rows through here, so a failed unit of work stops it."""
        self._check_usable()
        return self._table_rows

    # -- reads ------------------------------------------------------------------------

    async def _get_row(self, key: Any) -> Mapping[Any, Any] | None:
        row = self._rows.get(key)
        if row is None or not memory_conditions.matches_all(self._managed.live_condition(), row):
            return None
        return copy.deepcopy(row)

    async def _fetch_rows(
        self,
        filters: Sequence[Checked],
        sort: SortOrder,
        limit: int | None,
        offset: int,
        after: Sequence[Any] | None,
    ) -> builtins.list[Mapping[Any, Any]]:
        rows: Iterable[Row] = self._matching(filters)
        if after is not None:
            rows = [row for row in rows if memory_conditions.after_position(row, sort, after)]
        ordered = memory_conditions.sorted_rows(rows, sort or [Sort(self._key)])
        end = None if limit is None else offset + limit
        return copy.deepcopy(ordered[offset:end])

    async def _count(self, filters: Sequence[Checked]) -> int:
        return len(self._matching(filters))

    def _matching(self, filters: Sequence[Checked]) -> builtins.list[Row]:
        return [row for row in self._rows.values() if memory_conditions.matches_all(filters, row)]

    # -- writes -----------------------------------------------------------------------

    def _complete(self, values: Row) -> Row:
        """The row as the database would store it: key generated, defaults applied, checked."""
        row = {column.key: values.get(column.key) for column in self.table.columns}
        for column in self.table.columns:
            value = row[column.key]
            if value is not None:
                if isinstance(column.type, UTCDateTime):
                    row[column.key] = column.type.normalize(value)
                continue
            if column.key == self._key and is_integer_column(column):
                row[column.key] = self.database.next_id(self.table)
            elif column.default is not None and getattr(column.default, "is_scalar", False):
                row[column.key] = column.default.arg  # type: ignore[attr-defined]
            elif column.default is not None and getattr(column.default, "is_callable", False):
                row[column.key] = column.default.arg(None)  # type: ignore[attr-defined]
            elif column.key in self._server_defaults:
                row[column.key] = self._server_defaults[column.key]()
            elif not column.nullable and column.server_default is None:
                raise NotNullViolationError(
                    f"{self.table.name}: {column.key} is required",
                    table=self.table.name,
                    columns=(column.key,),
                )
        return copy.deepcopy(row)

    def _check_unique(self, row: Row, replacing: Any = None) -> None:
        for names, index in self._unique.items():
            holder = index.get(tuple(row[name] for name in names), replacing)
            if holder != replacing:
                raise UniqueViolationError(
                    f"{self.table.name}: a row with the same {', '.join(names)} already exists",
                    table=self.table.name,
                    columns=names,
                )

    def _store(self, key: Any, row: Row | None, table: Table | None = None) -> None:
        """Put `row` under `key` of `table` (None removes it); a unit of work can undo it."""
        table = self.table if table is None else table
        database = self.database
        old = database.put(table, key, row)

        def undo() -> None:
            database.put(table, key, old)

        self._remember(undo)

    def _check_references(self, row: Row) -> None:
        for constraint in self.table.foreign_key_constraints:
            values = [row[column.key] for column in constraint.columns]
            if any(value is None for value in values):
                continue
            target = constraint.referred_table
            referred = [element.column.key for element in constraint.elements]
            rows = self.database.rows_of(target).values()
            if not any([other[name] for name in referred] == values for other in rows):
                columns = tuple(column.key for column in constraint.columns)
                raise ForeignKeyViolationError.missing_target(
                    self.table.name, columns, _named(constraint)
                )

    def _release(
        self, table: Table, row: Row, plan: builtins.list[tuple[Table, Any, Row | None]]
    ) -> None:
        """What removing `row` does to the rows referring to it, as the database's
        foreign keys say (ON DELETE CASCADE / SET NULL), appended to `plan`; refused if a
        reference forbids it. Nothing changes until the whole plan is known."""
        for name, referring in self.database.schemas.items():
            for constraint in referring.foreign_key_constraints:
                if constraint.referred_table is not table:
                    continue
                referred = [row[element.column.key] for element in constraint.elements]
                columns = [column.key for column in constraint.columns]
                key_name = next(iter(referring.primary_key.columns)).key
                action = (constraint.ondelete or "").upper()
                for other in list(self.database.tables[name].values()):
                    if [other[column] for column in columns] != referred:
                        continue
                    if action == "CASCADE":
                        self._release(referring, other, plan)
                        plan.append((referring, other[key_name], None))
                    elif action == "SET NULL":
                        plan.append(
                            (referring, other[key_name], {**other, **dict.fromkeys(columns)})
                        )
                    else:  # as the database says it: no field of the request is at fault
                        raise ForeignKeyViolationError.still_referenced(
                            table.name, referring.name, _named(constraint)
                        )

    def _remove(self, rows: Iterable[Row]) -> None:
        """Delete `rows` and apply their foreign keys' ON DELETE actions, all or nothing."""
        plan: builtins.list[Change] = []
        with self._writing():
            for row in rows:
                self._release(self.table, row, plan)
                plan.append((self.table, row[self._key], None))
        for table, key, replacement in plan:
            self._store(key, replacement, table)

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """A refused write fails an enclosing unit of work, as it would in a database."""
        try:
            yield
        except Exception as error:
            self._fail(error)
            raise

    def _insert(self, values: Row) -> Row:
        with self._writing():
            row = self._complete(values)
            self._check_unique(row)
            self._check_references(row)
            self._store(row[self._key], row)
            return row

    async def _insert_one(self, values: dict[str, Any]) -> Mapping[Any, Any]:
        return copy.deepcopy(self._insert(values))

    async def _insert_many(self, rows: builtins.list[dict[str, Any]], batch_size: int) -> int:
        inserted: builtins.list[Any] = []
        try:
            for values in rows:
                inserted.append(self._insert(values)[self._key])
        except Exception:
            for key in inserted:  # all or nothing, like the one transaction in SQL
                self._store(key, None)
            raise
        return len(inserted)

    def _replace(self, key: Any, values: Mapping[str, Any]) -> Row:
        with self._writing():
            row = self._complete({**self._rows[key], **values})
            self._check_unique(row, replacing=key)
            self._check_references(row)
            self._store(key, row)
            return row

    async def _update_key(
        self,
        key: Any,
        values: Mapping[str, Any],
        *,
        deleted: bool = False,
        expected_version: Any = None,
    ) -> bool:
        if self._matching_row(key, deleted, expected_version) is None:
            return False
        self._replace(key, values)
        return True

    async def _update_returning(
        self, key: Any, values: Mapping[str, Any], expected_version: Any
    ) -> Mapping[Any, Any] | None:
        row = self._matching_row(key, False, expected_version)
        if row is None:
            return None
        changes = dict(values)
        if (version := self._managed.version) is not None:
            changes[version] = row[version] + 1
        return copy.deepcopy(self._replace(key, changes))

    def _matching_row(self, key: Any, deleted: bool, expected_version: Any) -> Row | None:
        """The row an update by key may change: live (or soft-deleted), at the version."""
        row = self._rows.get(key)
        managed = self._managed
        if row is None or not memory_conditions.matches_all(managed.state_condition(deleted), row):
            return None
        if expected_version is not None and row[str(managed.version)] != expected_version:
            return None
        return row

    async def _update_where(self, filters: Sequence[Checked], values: Mapping[str, Any]) -> int:
        matching = [row[self._key] for row in self._matching(filters)]
        snapshot = {key: self._rows[key] for key in matching}
        version = self._managed.version
        try:
            for key in matching:
                changes = dict(values)
                if version is not None:
                    changes[version] = self._rows[key][version] + 1
                self._replace(key, changes)
        except Exception:
            for key, row in snapshot.items():
                self._store(key, row)
            raise
        return len(matching)

    async def _delete_key(self, key: Any) -> bool:
        if key not in self._rows:
            return False
        self._remove([self._rows[key]])
        return True

    async def _delete_where(self, filters: Sequence[Checked]) -> int:
        matching = self._matching(filters)
        self._remove(matching)
        return len(matching)

    async def _upsert(
        self, values: dict[str, Any], conflict_columns: tuple[str, ...], updates: builtins.list[str]
    ) -> Mapping[Any, Any]:
        names = tuple(sorted(conflict_columns))
        key = self._unique[names].get(tuple(values[name] for name in names))
        if key is None:
            return copy.deepcopy(self._insert(values))
        changes = {name: values[name] for name in updates}
        version = self._managed.version
        if version is not None:
            changes[version] = self._rows[key][version] + 1
        return copy.deepcopy(self._replace(key, changes))


def _named(constraint: ForeignKeyConstraint) -> str | None:
    """The constraint's name as the database knows it (the naming convention's)."""
    return constraint.name if isinstance(constraint.name, str) else None

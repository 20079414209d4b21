"""The repository contract: what every repository does, whatever stores the rows.

A repository serves one SQLAlchemy Core `Table` and one entity type. Subclass one of the
implementations and set `table`; the entity type comes from the generic arguments:

    class UserRepository(SQLAlchemyRepository[User, UUID]):
        table = users_table

Entities whose fields match column names are mapped automatically; override
`_row_to_entity` / `_entity_to_dict` only where names or types differ.

Tables built with the column helpers get managed behaviour, the same on every backend:
`created_*` / `updated_*` are set by the repository, never taken from input; a `version`
column makes `update` check and increment it (ConcurrencyError when stale); a `deleted_at`
column turns `delete` into a soft delete that reads hide unless they filter on it.
"""

from __future__ import annotations

import builtins
import dataclasses
import functools
import inspect
import itertools
import operator
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar, get_args, get_origin

from sqlalchemy import Table

from ..errors import (
    ConcurrencyError,
    InvalidFilterError,
    InvalidValueError,
    MultipleResultsFoundError,
    NotFoundError,
    RepositoryError,
)
from ..operations import any_active, observing, shared_operation
from ..records import Records
from .cursor import decode_cursor, encode_cursor
from .managed import ManagedColumns
from .policy import Checked, QueryPolicy
from .query import UNSORTED, CursorPage, Filters, Page, SortKeys, SortOrder

E = TypeVar("E")
K = TypeVar("K")

DEFAULT_PAGE_SIZE = 20
Method = TypeVar("Method", bound=Callable[..., Awaitable[Any]])


def observed(name: str) -> Callable[[Method], Method]:
    """Run the observability hooks around a repository operation named `name`."""

    def decorate(method: Method) -> Method:
        @functools.wraps(method)
        async def run(self: Repository[Any, Any], *args: Any, **kwargs: Any) -> Any:
            if not any_active() or (database := self._observed_database()) is None:
                return await method(self, *args, **kwargs)
            operation = shared_operation(name, self.table.name, *database)
            with observing(operation) as observation:
                result = await method(self, *args, **kwargs)
                observation.rows = _row_count(result)
                return result

        return run  # type: ignore[return-value]

    return decorate


def _row_count(result: Any) -> int | None:
    if isinstance(result, int) and not isinstance(result, bool):
        return result
    items = getattr(result, "items", result)
    if isinstance(items, builtins.list):
        return len(items)
    return None if result is None or isinstance(result, bool) else 1


def _entity_fields(entity_type: type) -> tuple[str, ...]:
    if dataclasses.is_dataclass(entity_type):
        return tuple(field.name for field in dataclasses.fields(entity_type))
    model_fields = getattr(entity_type, "model_fields", None)  # pydantic
    if model_fields is not None:
        return tuple(model_fields)
    raise TypeError(
        f"{entity_type.__name__} is neither a dataclass nor a pydantic model: "
        "override _row_to_entity and _entity_to_dict"
    )


def _positional_builder(
    entity_type: type, mapped: Sequence[str]
) -> functools.partial[builtins.list[Any]] | None:
    """Entities built from rows positionally, where the constructor takes exactly the mapped
    columns as positional-or-keyword parameters (a plain dataclass does); None otherwise.

    The same entities as `_row_to_entity`'s keywords: on a page of 50 rows the call per
    row and the keywords cost three times the construction itself.
    """
    try:
        parameters = list(inspect.signature(entity_type).parameters.values())
    except (TypeError, ValueError):  # a constructor inspect cannot read
        return None
    names = [parameter.name for parameter in parameters]
    # One parameter (an entity that is only its key) stays on the keyword path: itemgetter
    # of one name gives the value, not a tuple, and such pages are not worth a case.
    if (
        len(names) < 2
        or sorted(names) != sorted(mapped)
        or any(
            parameter.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD
            for parameter in parameters
        )
    ):
        return None
    # A partial, not a function: stored on the class, it must not bind to the instance.
    return functools.partial(
        _built_positionally, entity_type, tuple(names), operator.itemgetter(*names)
    )


def _built_positionally(
    entity_type: type,
    names: tuple[str, ...],
    arguments: Callable[[Any], tuple[Any, ...]],
    rows: Iterable[Any],
) -> builtins.list[Any]:
    # The driver's rows are read by position, never made into dicts (see `records`).
    values = rows.values_of(names) if isinstance(rows, Records) else map(arguments, rows)
    return builtins.list(itertools.starmap(entity_type, values))


class Repository(ABC, Generic[E, K]):
    """CRUD, filters, sorting, offset and keyset pages on one table."""

    table: ClassVar[Table]
    entity_type: ClassVar[type[Any]]
    #: Columns callers may filter / sort on; None allows every comparable column.
    filterable: ClassVar[Collection[str] | None] = None
    sortable: ClassVar[Collection[str] | None] = None
    max_page_size: ClassVar[int] = 1_000

    _policy: ClassVar[QueryPolicy]
    _managed: ClassVar[ManagedColumns]
    _mapped_fields: ClassVar[tuple[str, ...]]
    _fields_are_columns: ClassVar[bool] = False
    #: Entities from a page of rows in one call, where `_row_to_entity` is the default.
    _build_entities: ClassVar[functools.partial[builtins.list[Any]] | None]
    _key: ClassVar[str]
    #: The table has a `deleted_at()` column: delete soft-deletes, restore brings back.
    soft_deletes: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in getattr(cls, "__orig_bases__", ()):
            origin = get_origin(base)
            arguments = get_args(base)
            if (
                isinstance(origin, type)
                and issubclass(origin, Repository)
                and arguments
                and not isinstance(arguments[0], TypeVar)
            ):
                cls.entity_type = arguments[0]
        if "table" in cls.__dict__ or "filterable" in cls.__dict__ or "sortable" in cls.__dict__:
            cls._bind_table()
        # Per subclass, bound or not: a subclass may override `_row_to_entity` alone.
        mapped = getattr(cls, "_mapped_fields", None)
        cls._build_entities = (
            _positional_builder(cls.entity_type, mapped)
            if mapped is not None and cls._row_to_entity is Repository._row_to_entity
            else None
        )

    @classmethod
    def _bind_table(cls) -> None:
        if len(cls.table.primary_key.columns) != 1:
            raise TypeError(f"{cls.__name__}: {cls.table.name} needs a one-column primary key")
        cls._policy = QueryPolicy(cls.table, cls.filterable, cls.sortable)
        cls._managed = ManagedColumns(cls.table)
        cls._key = cls._policy.primary_key_name
        cls.soft_deletes = cls._managed.deleted_at is not None
        entity_type = getattr(cls, "entity_type", None)
        if entity_type is not None:
            fields = _entity_fields(entity_type)
            cls._mapped_fields = tuple(name for name in fields if name in cls.table.columns)
            # Entity fields and columns alike: a row is already the keyword arguments.
            cls._fields_are_columns = set(fields) == set(cls.table.columns.keys())

    # -- mapping: override where entity and table differ -------------------------------

    def _row_to_entity(self, row: Mapping[Any, Any]) -> E:
        if self._fields_are_columns and len(row) == len(self._mapped_fields):
            entity: E = self.entity_type(**row)
        else:
            entity = self.entity_type(**{name: row[name] for name in self._mapped_fields})
        return entity

    def _entities(self, rows: Iterable[Mapping[Any, Any]]) -> builtins.list[E]:
        build = self._build_entities
        if build is not None:
            return build(rows)
        return [self._row_to_entity(row) for row in rows]

    def _entity_to_dict(self, entity: E) -> dict[str, Any]:
        return {name: getattr(entity, name) for name in self._mapped_fields}

    def key_of(self, entity: E) -> K:
        """The entity's primary key, through the mapping (a field may not be the column)."""
        key: K = self._entity_to_dict(entity)[self._key]
        return key

    # -- reads ------------------------------------------------------------------------

    @observed("get")
    async def get(self, key: K) -> E | None:
        """The entity with primary key `key`, or None (also when soft-deleted)."""
        row = await self._get_row(self._coerce_key(key))
        return None if row is None else self._row_to_entity(row)

    @observed("get_by_id")
    async def get_by_id(self, key: K) -> E:
        """The entity with primary key `key`, or NotFoundError."""
        entity = await self.get(key)
        if entity is None:
            raise NotFoundError(self.table.name, key)
        return entity

    @observed("find_one")
    async def find_one(self, filters: Filters) -> E | None:
        """The one entity matching `filters`, None if none, MultipleResultsFoundError if more."""
        found = await self._fetch(self._checked(filters), UNSORTED, limit=2)
        if len(found) > 1:
            raise MultipleResultsFoundError(
                f"{self.table.name}: more than one row matches", table=self.table.name
            )
        return found[0] if found else None

    @observed("list")
    async def list(
        self,
        filters: Filters = (),
        *,
        sort: SortKeys = (),
        limit: int | None = None,
        offset: int = 0,
    ) -> builtins.list[E]:
        """Matching entities in `sort` order (primary key order by default)."""
        self._policy.check_range(limit, offset)
        return await self._fetch(
            self._checked(filters), self._policy.check_sort(sort), limit, offset
        )

    @observed("count")
    async def count(self, filters: Filters = ()) -> int:
        return await self._count(self._checked(filters))

    @observed("exists")
    async def exists(self, filters: Filters = ()) -> bool:
        return bool(await self._fetch(self._checked(filters), UNSORTED, limit=1))

    @observed("search")
    async def search(
        self,
        filters: Filters = (),
        *,
        sort: SortKeys = (),
        page: int = 1,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> Page[E]:
        """One offset page and the total count: for UIs that show page numbers."""
        self._check_page_size(page_size)
        if page < 1:
            raise InvalidFilterError("page starts at 1", table=self.table.name, field="page")
        offset = (page - 1) * page_size
        self._policy.check_range(page_size, offset, field="page")
        checked = self._checked(filters)
        order = self._policy.check_sort(sort)
        total, rows = await self._count_and_fetch(checked, order, page_size, offset)
        return Page.of(self._entities(rows), total, page, page_size)

    @observed("keyset_page")
    async def keyset_page(
        self,
        filters: Filters = (),
        *,
        sort: SortKeys = (),
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> CursorPage[E]:
        """One keyset page: constant cost at any depth, stable while rows are added."""
        self._check_page_size(limit)
        checked = self._checked(filters)
        order = self._policy.check_sort(sort)
        after = None if cursor is None else decode_cursor(cursor, order, self._policy)
        rows = await self._fetch_rows(checked, order, limit + 1, 0, after)
        next_cursor = encode_cursor(order, rows[limit - 1]) if len(rows) > limit else None
        return CursorPage(self._entities(rows[:limit]), next_cursor)

    def _checked(self, filters: Filters) -> builtins.list[Checked]:
        return self._managed.live_only(self._policy.check_filters(filters))

    def _check_page_size(self, size: int) -> None:
        if not 1 <= size <= self.max_page_size:
            raise InvalidFilterError(
                f"page size must be between 1 and {self.max_page_size}",
                table=self.table.name,
                field="page_size",
            )

    async def _fetch(
        self,
        filters: Sequence[Checked],
        sort: SortOrder,
        limit: int | None = None,
        offset: int = 0,
    ) -> builtins.list[E]:
        return self._entities(await self._fetch_rows(filters, sort, limit, offset, None))

    # -- writes -----------------------------------------------------------------------

    @observed("create")
    async def create(self, entity: E) -> E:
        """Insert one entity; returns it as stored (generated key and managed columns)."""
        values = self._managed.on_create(self._entity_to_dict(entity))
        self._policy.check_row(values)
        return self._row_to_entity(await self._insert_one(values))

    @observed("bulk_create")
    async def bulk_create(self, entities: Iterable[E], *, batch_size: int = 1_000) -> int:
        """Insert many entities, one round trip per batch, all or nothing; returns how many."""
        now = datetime.now(UTC)
        rows = [self._managed.on_create(self._entity_to_dict(entity), now) for entity in entities]
        self._policy.check_rows(rows)
        return await self._insert_many(rows, batch_size) if rows else 0

    @observed("update")
    async def update(self, entity: E) -> E:
        """Write the entity's values over the stored row.

        NotFoundError if the row is gone (or soft-deleted); with a `version` column,
        ConcurrencyError if the entity's version is no longer the stored one.
        """
        original = self._entity_to_dict(entity)
        values = self._managed.on_update(dict(original))
        key = self._coerce_key(values.pop(self._key))
        expected = None
        if (version := self._managed.version) is not None:
            expected = self._expected_version(values[version])
            values[version] = expected + 1
        self._policy.check_row(values)
        if await self._update_key(key, values, expected_version=expected):
            original.update(values)
            return self._row_to_entity(original)
        raise await self._why_not_updated(key, expected)

    @observed("update_fields")
    async def update_fields(self, key: K, values: Mapping[str, Any]) -> E:
        """Set some columns of the row with `key`; returns the updated entity.

        One round trip where the backend can return the row it updated (PostgreSQL,
        SQLite, SQL Server); MySQL/MariaDB read it back in the same transaction. Only the
        named columns are written, so concurrent partial updates of different columns do
        not overwrite each other. With a `version` column, a `version` in `values` is the
        version the caller read (ConcurrencyError when stale); the stored one is
        incremented either way. Managed columns are the repository's; the key stays.
        NotFoundError if the row is gone (or soft-deleted).
        """
        version = self._managed.version
        changes = dict(values)
        expected = changes.pop(version, None) if version is not None else None
        kept = self._managed.all_but_version
        changes = self._managed.on_update(self._policy.check_values(changes, kept))
        coerced = self._coerce_key(key)
        if expected is not None:
            expected = self._expected_version(expected)
            self._policy.check_row({str(version): expected + 1})
        self._policy.check_row(changes)
        if not changes and version is None:  # nothing named, nothing managed to set
            row = await self._get_row(coerced)
        else:
            row = await self._update_returning(coerced, changes, expected)
        if row is not None:
            return self._row_to_entity(row)
        raise await self._why_not_updated(coerced, expected)

    def _expected_version(self, value: Any) -> Any:
        """The version an update names as the one it read, as the column's type.

        Without it there is nothing to check the stored row against: the write would
        overwrite whatever changed since, which a version column exists to prevent.
        """
        version = str(self._managed.version)
        if value is None:
            raise InvalidValueError(
                f"{self.table.name}: an update names the {version} it read; none was given",
                table=self.table.name,
                columns=(version,),
            )
        return self._policy.coerce_value(version, value)

    async def _why_not_updated(self, key: Any, expected: Any) -> RepositoryError:
        """An update by key matched no row: a stale version if the row is there, else gone."""
        if expected is not None and await self._get_row(key) is not None:
            return ConcurrencyError(
                f"{self.table.name}: row {key} changed since version {expected}",
                table=self.table.name,
            )
        return NotFoundError(self.table.name, key)

    @observed("update_where")
    async def update_where(self, filters: Filters, values: Mapping[str, Any]) -> int:
        """Set `values` on every matching row (at least one filter); returns the count."""
        checked = self._managed.live_only(self._required_filters(filters))
        changes = self._managed.on_update(self._policy.check_values(values, self._managed.all))
        self._policy.check_row(changes)
        return await self._update_where(checked, changes)

    @observed("delete")
    async def delete(self, key: K) -> None:
        """Delete the row (soft-delete where the table has `deleted_at`); NotFoundError if none."""
        coerced = self._coerce_key(key)
        if self._managed.deleted_at is None:
            deleted = await self._delete_key(coerced)
        else:
            deleted = await self._update_key(coerced, self._managed.soft_delete_values())
        if not deleted:
            raise NotFoundError(self.table.name, key)

    @observed("delete_where")
    async def delete_where(self, filters: Filters) -> int:
        """Delete (or soft-delete) every matching row (at least one filter); returns the count."""
        checked = self._managed.live_only(self._required_filters(filters))
        if self._managed.deleted_at is None:
            return await self._delete_where(checked)
        return await self._update_where(checked, self._managed.soft_delete_values())

    @observed("restore")
    async def restore(self, key: K) -> E:
        """Bring a soft-deleted row back; NotFoundError if no deleted row has that key."""
        self._soft_delete_column("restore")
        coerced = self._coerce_key(key)
        restored = self._managed.restore_values()
        if not await self._update_key(coerced, restored, deleted=True):
            raise NotFoundError(self.table.name, key)
        return await self.get_by_id(key)

    @observed("hard_delete")
    async def hard_delete(self, key: K) -> None:
        """Really remove the row, deleted or not; NotFoundError if there is none."""
        self._soft_delete_column("hard_delete")
        if not await self._delete_key(self._coerce_key(key)):
            raise NotFoundError(self.table.name, key)

    def _soft_delete_column(self, operation: str) -> str:
        if self._managed.deleted_at is None:
            raise TypeError(f"{self.table.name} has no deleted_at column: {operation} needs one")
        return self._managed.deleted_at

    @observed("upsert")
    async def upsert(self, entity: E, *, conflict_columns: Sequence[str] | None = None) -> E:
        """Insert the entity, or update the row whose `conflict_columns` match (default: key).

        A row that matches on another unique key is a UniqueViolationError on every
        backend (MySQL/MariaDB would update it: the repository undoes that and refuses).
        Creation facts of an existing row are kept; its version is incremented; a
        soft-deleted row is revived: upsert means "this row exists with these values".
        """
        columns = tuple(conflict_columns or (self._key,))
        values = self._managed.on_create(self._entity_to_dict(entity))
        self._policy.check_conflict_columns(columns, values)
        self._policy.check_row(values)
        updates = self._managed.update_columns(values, columns)
        return self._row_to_entity(await self._upsert(values, columns, updates))

    def _required_filters(self, filters: Filters) -> builtins.list[Checked]:
        if not filters:
            raise InvalidFilterError(
                f"{self.table.name}: refusing to touch every row; give at least one filter",
                table=self.table.name,
            )
        return self._policy.check_filters(filters)

    def _coerce_key(self, key: Any) -> Any:
        return self._policy.coerce(self._key, key)

    def _observed_database(
        self,
    ) -> tuple[str, str | None, str | None, tuple[str | None, int | None]] | None:
        """(system, namespace, pool name, server) for the hooks; None: this backend is not
        observed."""
        return None

    # -- what a backend provides ------------------------------------------------------

    @abstractmethod
    async def _get_row(self, key: Any) -> Mapping[Any, Any] | None:
        """The live (not soft-deleted) row with primary key `key`."""

    @abstractmethod
    async def _fetch_rows(
        self,
        filters: Sequence[Checked],
        sort: SortOrder,
        limit: int | None,
        offset: int,
        after: Sequence[Any] | None,
    ) -> Sequence[Mapping[Any, Any]]:
        """Rows matching `filters`, in `sort` order, past the keyset position `after`."""

    @abstractmethod
    async def _count(self, filters: Sequence[Checked]) -> int: ...

    async def _count_and_fetch(
        self, filters: Sequence[Checked], sort: SortOrder, limit: int, offset: int
    ) -> tuple[int, Sequence[Mapping[Any, Any]]]:
        """The total and one page of rows; a backend may do both on one connection."""
        total = await self._count(filters)
        return total, await self._fetch_rows(filters, sort, limit, offset, None)

    @abstractmethod
    async def _insert_one(self, values: dict[str, Any]) -> Mapping[Any, Any]:
        """Insert a row; returns its values with generated ones (the key) filled in."""

    @abstractmethod
    async def _insert_many(self, rows: builtins.list[dict[str, Any]], batch_size: int) -> int: ...

    @abstractmethod
    async def _update_key(
        self,
        key: Any,
        values: Mapping[str, Any],
        *,
        deleted: bool = False,
        expected_version: Any = None,
    ) -> bool:
        """Set `values` on the row with `key` if it is live (with `deleted`: if it is
        soft-deleted) and, given `expected_version`, still at that version; False if not."""

    @abstractmethod
    async def _update_returning(
        self, key: Any, values: Mapping[str, Any], expected_version: Any
    ) -> Mapping[Any, Any] | None:
        """Set `values` (and version + 1) on the live row with `key`, if still at
        `expected_version` when one is given; the updated row, or None if no row was."""

    @abstractmethod
    async def _update_where(self, filters: Sequence[Checked], values: Mapping[str, Any]) -> int: ...

    @abstractmethod
    async def _delete_key(self, key: Any) -> bool: ...

    @abstractmethod
    async def _delete_where(self, filters: Sequence[Checked]) -> int: ...

    @abstractmethod
    async def _upsert(
        self, values: dict[str, Any], conflict_columns: tuple[str, ...], updates: builtins.list[str]
    ) -> Mapping[Any, Any]:
        """Insert, or overwrite `updates` (and increment the version) of the conflicting row."""

"""The repository contract: what every repository does, whatever stores the rows.

A repository serves one SQLAlchemy Core `Table` and one entity type. Subclass one of the
implementations and set `table`; the entity type comes from the generic arguments:

    class UserRepository(SQLAlchemyRepository[User, UUID]):
        table = users_table

Entities whose fields match column names are mapped automatically; override
`_row_to_entity` / `_entity_to_dict` only where names or types differ.
"""

from __future__ import annotations

import builtins
import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar, get_args, get_origin

from sqlalchemy import Table

from ..errors import InvalidFilterError, MultipleResultsFoundError, NotFoundError
from .cursor import decode_cursor, encode_cursor
from .policy import CheckedFilter, QueryPolicy
from .query import CursorPage, Filters, Page, Sort, SortKeys

E = TypeVar("E")
K = TypeVar("K")

DEFAULT_PAGE_SIZE = 20


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


class Repository(ABC, Generic[E, K]):
    """CRUD, filters, sorting, offset and keyset pages on one table."""

    table: ClassVar[Table]
    entity_type: ClassVar[type[Any]]
    #: Columns callers may filter / sort on; None allows every comparable column.
    filterable: ClassVar[Collection[str] | None] = None
    sortable: ClassVar[Collection[str] | None] = None
    max_page_size: ClassVar[int] = 1_000

    _policy: ClassVar[QueryPolicy]
    _mapped_fields: ClassVar[tuple[str, ...]]
    _key: ClassVar[str]

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

    @classmethod
    def _bind_table(cls) -> None:
        if len(cls.table.primary_key.columns) != 1:
            raise TypeError(f"{cls.__name__}: {cls.table.name} needs a one-column primary key")
        cls._policy = QueryPolicy(cls.table, cls.filterable, cls.sortable)
        cls._key = cls._policy.primary_key_name
        entity_type = getattr(cls, "entity_type", None)
        if entity_type is not None:
            fields = _entity_fields(entity_type)
            cls._mapped_fields = tuple(name for name in fields if name in cls.table.columns)

    # -- mapping: override where entity and table differ -------------------------------

    def _row_to_entity(self, row: Mapping[Any, Any]) -> E:
        entity: E = self.entity_type(**{name: row[name] for name in self._mapped_fields})
        return entity

    def _entity_to_dict(self, entity: E) -> dict[str, Any]:
        return {name: getattr(entity, name) for name in self._mapped_fields}

    # -- reads ------------------------------------------------------------------------

    @abstractmethod
    async def get(self, key: K) -> E | None:
        """The entity with primary key `key`, or None."""

    async def get_by_id(self, key: K) -> E:
        """The entity with primary key `key`, or NotFoundError."""
        entity = await self.get(key)
        if entity is None:
            raise NotFoundError(self.table.name, key)
        return entity

    async def find_one(self, filters: Filters) -> E | None:
        """The one entity matching `filters`, None if none, MultipleResultsFoundError if more."""
        found = await self._fetch(self._policy.check_filters(filters), [], limit=2)
        if len(found) > 1:
            raise MultipleResultsFoundError(
                f"{self.table.name}: more than one row matches", table=self.table.name
            )
        return found[0] if found else None

    async def list(
        self,
        filters: Filters = (),
        *,
        sort: SortKeys = (),
        limit: int | None = None,
        offset: int = 0,
    ) -> builtins.list[E]:
        """Matching entities in `sort` order (primary key order by default)."""
        if (limit is not None and limit < 0) or offset < 0:
            raise InvalidFilterError("limit and offset cannot be negative", table=self.table.name)
        checked = self._policy.check_filters(filters)
        return await self._fetch(checked, self._policy.check_sort(sort), limit, offset)

    async def count(self, filters: Filters = ()) -> int:
        return await self._count(self._policy.check_filters(filters))

    async def exists(self, filters: Filters = ()) -> bool:
        return bool(await self._fetch(self._policy.check_filters(filters), [], limit=1))

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
        checked = self._policy.check_filters(filters)
        order = self._policy.check_sort(sort)
        total, rows = await self._count_and_fetch(checked, order, page_size, (page - 1) * page_size)
        return Page.of([self._row_to_entity(row) for row in rows], total, page, page_size)

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
        checked = self._policy.check_filters(filters)
        order = self._policy.check_sort(sort)
        after = None if cursor is None else decode_cursor(cursor, order, self._policy)
        rows = await self._fetch_rows(checked, order, limit + 1, 0, after)
        if len(rows) <= limit:
            return CursorPage([self._row_to_entity(row) for row in rows], None)
        rows = rows[:limit]
        next_cursor = encode_cursor(order, rows[-1])
        return CursorPage([self._row_to_entity(row) for row in rows], next_cursor)

    def _check_page_size(self, size: int) -> None:
        if not 1 <= size <= self.max_page_size:
            raise InvalidFilterError(
                f"page size must be between 1 and {self.max_page_size}",
                table=self.table.name,
                field="page_size",
            )

    async def _fetch(
        self,
        filters: Sequence[CheckedFilter],
        sort: Sequence[Sort],
        limit: int | None = None,
        offset: int = 0,
    ) -> builtins.list[E]:
        rows = await self._fetch_rows(filters, sort, limit, offset, None)
        return [self._row_to_entity(row) for row in rows]

    @abstractmethod
    async def _fetch_rows(
        self,
        filters: Sequence[CheckedFilter],
        sort: Sequence[Sort],
        limit: int | None,
        offset: int,
        after: Sequence[Any] | None,
    ) -> builtins.list[Mapping[Any, Any]]:
        """Rows matching `filters`, in `sort` order, past the keyset position `after`."""

    @abstractmethod
    async def _count(self, filters: Sequence[CheckedFilter]) -> int: ...

    async def _count_and_fetch(
        self, filters: Sequence[CheckedFilter], sort: Sequence[Sort], limit: int, offset: int
    ) -> tuple[int, builtins.list[Mapping[Any, Any]]]:
        """The total and one page of rows; a backend may do both on one connection."""
        total = await self._count(filters)
        return total, await self._fetch_rows(filters, sort, limit, offset, None)

    # -- writes -----------------------------------------------------------------------

    @abstractmethod
    async def create(self, entity: E) -> E:
        """Insert one entity; returns it with any generated key filled in."""

    @abstractmethod
    async def bulk_create(self, entities: Iterable[E], *, batch_size: int = 1_000) -> int:
        """Insert many entities, one round trip per batch; returns how many."""

    @abstractmethod
    async def update(self, entity: E) -> E:
        """Replace the stored row with the entity's values; NotFoundError if it is gone."""

    async def update_where(self, filters: Filters, values: Mapping[str, Any]) -> int:
        """Set `values` on every row matching `filters` (at least one); returns the count."""
        checked = self._required_filters(filters)
        return await self._update_where(checked, self._policy.check_values(values))

    @abstractmethod
    async def _update_where(
        self, filters: Sequence[CheckedFilter], values: Mapping[str, Any]
    ) -> int: ...

    @abstractmethod
    async def delete(self, key: K) -> None:
        """Delete the row with primary key `key`; NotFoundError if there is none."""

    async def delete_where(self, filters: Filters) -> int:
        """Delete every row matching `filters` (at least one); returns the count."""
        return await self._delete_where(self._required_filters(filters))

    @abstractmethod
    async def _delete_where(self, filters: Sequence[CheckedFilter]) -> int: ...

    async def upsert(self, entity: E, *, conflict_columns: Sequence[str] | None = None) -> E:
        """Insert the entity, or update the row whose `conflict_columns` match (default: key).

        On MySQL/MariaDB any unique key of the table counts as the conflict, whatever
        `conflict_columns` says: the server offers no way to name one.
        """
        columns = tuple(conflict_columns or (self._key,))
        values = self._entity_to_dict(entity)
        self._policy.check_conflict_columns(columns, values)
        return await self._upsert(values, columns)

    @abstractmethod
    async def _upsert(self, values: dict[str, Any], conflict_columns: tuple[str, ...]) -> E: ...

    def _required_filters(self, filters: Filters) -> builtins.list[CheckedFilter]:
        if not filters:
            raise InvalidFilterError(
                f"{self.table.name}: refusing to touch every row; give at least one filter",
                table=self.table.name,
            )
        return self._policy.check_filters(filters)

    def _coerce_key(self, key: Any) -> Any:
        return self._policy.coerce(self._key, key)

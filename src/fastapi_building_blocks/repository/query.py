"""The query language both repositories speak: filters, sort keys and pages.

Values here are what a caller asked for; `policy.QueryPolicy` checks them against a
table's allow-list before any SQL is built or any row is compared.

    await users.list(
        [Filter("is_active", "eq", True), Filter("email", "contains", "@example")],
        sort=["-created_at"],
    )

Filters in a list must all hold; `any_of(...)` holds when one of its members does, and
`all_of(...)` groups filters inside an `any_of`. Groups nest:

    await users.list([any_of(Filter("first_name", "contains", "al"),
                             Filter("last_name", "contains", "al"))])
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeAlias, TypeVar

E = TypeVar("E")


@dataclass(frozen=True, slots=True)
class Filter:
    """`field op value`; pattern operators (like, contains, startswith) ignore case."""

    field: str
    op: str = "eq"
    value: Any = None


@dataclass(frozen=True, slots=True)
class Sort:
    """One sort key; `Sort.parse("-created_at")` is descending."""

    field: str
    descending: bool = False

    @classmethod
    def parse(cls, key: str | Sort) -> Sort:
        if isinstance(key, Sort):
            return key
        if key.startswith("-"):
            return cls(key[1:], descending=True)
        return cls(key.removeprefix("+"))

    def __str__(self) -> str:
        return f"-{self.field}" if self.descending else self.field


class SortOrder(tuple[Sort, ...]):
    """Checked sort keys, in order: what `QueryPolicy.check_sort` returns, made once per
    distinct request. `signature` ("-score,-id") is what a cursor carries and a statement
    cache keys on, written once here instead of on every page."""

    signature: str

    def __new__(cls, keys: Iterable[Sort] = ()) -> SortOrder:
        order = super().__new__(cls, keys)
        order.signature = ",".join(map(str, order))
        return order


#: No order asked for (the database's own, or the primary key's where paging needs one).
UNSORTED = SortOrder()


@dataclass(frozen=True, slots=True)
class FilterGroup:
    """Filters joined by OR (`kind="any"`) or AND (`kind="all"`); see `any_of`, `all_of`."""

    kind: Literal["any", "all"]
    members: tuple[Filter | FilterGroup, ...]


def any_of(*members: Filter | FilterGroup) -> FilterGroup:
    """Holds when at least one member holds (SQL OR)."""
    return FilterGroup("any", members)


def all_of(*members: Filter | FilterGroup) -> FilterGroup:
    """Holds when every member holds (SQL AND): for a conjunction inside `any_of`."""
    return FilterGroup("all", members)


Condition: TypeAlias = Filter | FilterGroup
Filters: TypeAlias = Sequence[Condition]
SortKeys: TypeAlias = Sequence[str | Sort]


@dataclass(frozen=True, slots=True)
class Page(Generic[E]):
    """One page of an offset-paginated search."""

    items: list[E]
    total: int
    page: int
    page_size: int
    total_pages: int

    @classmethod
    def of(cls, items: list[E], total: int, page: int, page_size: int) -> Page[E]:
        return cls(items, total, page, page_size, math.ceil(total / page_size))


@dataclass(frozen=True, slots=True)
class CursorPage(Generic[E]):
    """One page of a keyset search; pass `next_cursor` back for the next, None at the end."""

    items: list[E]
    next_cursor: str | None

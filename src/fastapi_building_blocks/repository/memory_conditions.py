"""Checked filters and sort orders evaluated on plain dicts, as SQL would evaluate them.

SQL's three-valued logic is kept: a comparison with NULL is never true, so `ne` and
`not_in` skip rows whose value is NULL, exactly like the database. Pattern operators fold
ASCII letters only, as SQLite's LIKE and PostgreSQL's ILIKE under the C collation do
(MariaDB folds every letter: the one documented difference).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .operators import IsNull
from .policy import Checked, CheckedGroup
from .query import Sort

Row = Mapping[str, Any]


def matches(condition: Checked, row: Row) -> bool:
    if isinstance(condition, CheckedGroup):
        outcomes = (matches(member, row) for member in condition.members)
        return any(outcomes) if condition.kind == "any" else all(outcomes)
    actual = row[condition.column.key]
    operator = condition.operator
    if actual is None and not isinstance(operator, IsNull):
        return False  # SQL: a comparison with NULL is never true
    return operator.matches(actual, condition.value)


def matches_all(conditions: Iterable[Checked], row: Row) -> bool:
    return all(matches(condition, row) for condition in conditions)


def sorted_rows(rows: Iterable[Row], sort: Sequence[Sort]) -> list[Row]:
    """Rows in `sort` order with NULL as the smallest value, like `Dialect.order_by`."""
    ordered = list(rows)
    for key in reversed(sort):  # stable sorts, least significant key first
        ordered.sort(key=_null_first(key.field), reverse=key.descending)
    return ordered


def _null_first(name: str) -> Callable[[Row], tuple[bool, Any]]:
    def sort_key(row: Row) -> tuple[bool, Any]:
        value = row[name]
        return (value is not None, value if value is not None else 0)

    return sort_key


def after_position(row: Row, sort: Sequence[Sort], values: Sequence[Any]) -> bool:
    """True where `row` comes after `values` in `sort` order (see sql_conditions)."""
    for key, value in zip(sort, values, strict=True):
        actual = row[key.field]
        if actual == value:
            continue
        if value is None:
            return not key.descending
        if actual is None:
            return key.descending
        return bool(actual < value) if key.descending else bool(actual > value)
    return False

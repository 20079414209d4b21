"""Checked filters and sort orders evaluated on plain dicts, as SQL would evaluate them.

SQL's three-valued logic is kept: a comparison with NULL is never true, so `ne` and
`not_in` skip rows whose value is NULL, exactly like the database. Pattern operators fold
ASCII letters only, as SQLite's LIKE and PostgreSQL's ILIKE under the C collation do
(MariaDB folds every letter: the one documented difference).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from typing import Any

from .policy import CheckedFilter
from .query import Sort

Row = Mapping[str, Any]


@cache
def _like_pattern(pattern: str) -> re.Pattern[str]:
    parts = (".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.IGNORECASE | re.ASCII | re.DOTALL)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _folded(text: str) -> str:
    return text.translate(_ASCII_LOWER)


def matches(checked: CheckedFilter, row: Row) -> bool:
    actual = row[checked.column.key]
    value = checked.value
    if checked.op == "is_null":
        return (actual is None) is bool(value)
    if actual is None:
        return False
    match checked.op:
        case "eq":
            return bool(actual == value)
        case "ne":
            return bool(actual != value)
        case "lt":
            return bool(actual < value)
        case "le":
            return bool(actual <= value)
        case "gt":
            return bool(actual > value)
        case "ge":
            return bool(actual >= value)
        case "in":
            return actual in value
        case "not_in":
            return actual not in value
        case "like":
            return _like_pattern(value).fullmatch(actual) is not None
        case "contains":
            return _folded(value) in _folded(actual)
        case "startswith":
            return _folded(actual).startswith(_folded(value))
        case "between":
            return bool(value[0] <= actual <= value[1])
    raise AssertionError(f"operator {checked.op!r} passed the policy but has no evaluation")


def matches_all(filters: Iterable[CheckedFilter], row: Row) -> bool:
    return all(matches(checked, row) for checked in filters)


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

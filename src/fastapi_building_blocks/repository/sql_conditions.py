"""Checked filters and keyset positions as SQLAlchemy Core expressions.

Every value becomes a named bound parameter, so one statement serves every query of the
same shape (fields, operators, sort): the repository builds it once and reuses it, and
SQLAlchemy's memoized cache key makes a reused statement as cheap as a hand-prebuilt one.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from sqlalchemy import and_, bindparam, false, or_
from sqlalchemy.sql.elements import ColumnElement

from ..dialects import Dialect
from .policy import CheckedFilter, QueryPolicy
from .query import Sort

LIKE_ESCAPE = "/"


def _escaped(text: str) -> str:
    """`text` matched literally inside a LIKE pattern."""
    for special in (LIKE_ESCAPE, "%", "_"):
        text = text.replace(special, LIKE_ESCAPE + special)
    return text


def filter_shape(filters: Sequence[CheckedFilter]) -> Hashable:
    """What decides the SQL of `filters`, values aside (is_null's value is part of it)."""
    return tuple(
        (checked.column.key, checked.op, checked.value if checked.op == "is_null" else None)
        for checked in filters
    )


def filter_params(filters: Sequence[CheckedFilter], prefix: str = "f") -> dict[str, Any]:
    """The bound values for `filter_clauses(filters, prefix)`."""
    params: dict[str, Any] = {}
    for index, checked in enumerate(filters):
        name, value = f"{prefix}{index}", checked.value
        match checked.op:
            case "is_null":
                continue
            case "between":
                params[f"{name}_low"], params[f"{name}_high"] = value
            case "contains":
                params[name] = f"%{_escaped(value)}%"
            case "startswith":
                params[name] = f"{_escaped(value)}%"
            case "like":  # % and _ stay wildcards; every other character means itself
                params[name] = value.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
            case "in" | "not_in":
                params[name] = list(value)
            case _:
                params[name] = value
    return params


def filter_clauses(
    filters: Sequence[CheckedFilter], prefix: str = "f"
) -> list[ColumnElement[bool]]:
    return [_clause(checked, f"{prefix}{index}") for index, checked in enumerate(filters)]


def _clause(checked: CheckedFilter, name: str) -> ColumnElement[bool]:
    column = checked.column
    value: Any = bindparam(name)
    clause: ColumnElement[bool]
    match checked.op:
        case "eq":
            clause = column == value
        case "ne":
            clause = column != value
        case "lt":
            clause = column < value
        case "le":
            clause = column <= value
        case "gt":
            clause = column > value
        case "ge":
            clause = column >= value
        case "in":
            clause = column.in_(bindparam(name, expanding=True))
        case "not_in":
            clause = column.not_in(bindparam(name, expanding=True))
        case "like" | "contains" | "startswith":
            clause = column.ilike(value, escape=LIKE_ESCAPE)
        case "is_null":
            clause = column.is_(None) if checked.value else column.is_not(None)
        case "between":
            clause = column.between(bindparam(f"{name}_low"), bindparam(f"{name}_high"))
        case _:
            raise AssertionError(f"operator {checked.op!r} passed the policy but has no SQL")
    return clause


def order_by(policy: QueryPolicy, dialect: Dialect, sort: Sequence[Sort]) -> list[Any]:
    return [dialect.order_by(policy.column(key.field), key.descending) for key in sort]


def position_shape(values: Sequence[Any] | None) -> tuple[bool, ...] | None:
    """Which keyset values are NULL: part of the SQL's shape (see `after_position`)."""
    return None if values is None else tuple(value is None for value in values)


def position_params(values: Sequence[Any]) -> dict[str, Any]:
    return {f"after{index}": value for index, value in enumerate(values) if value is not None}


def after_position(
    policy: QueryPolicy, sort: Sequence[Sort], nulls: Sequence[bool]
) -> ColumnElement[bool]:
    """Rows after a keyset position (`after0`, `after1`, ... bound; NULL where `nulls`).

    NULL is the smallest value, as in `Dialect.order_by`. The OR of branches alone gives
    an index no range to start from (PostgreSQL and SQLite then read every row before the
    position): where it is exact, a plain bound on the first key comes with it.
    """
    columns = [policy.column(key.field) for key in sort]
    values: list[Any] = [bindparam(f"after{index}") for index in range(len(sort))]

    def equal(index: int) -> ColumnElement[bool]:
        column = columns[index]
        return column.is_(None) if nulls[index] else column == values[index]

    branches = []
    for index, key in enumerate(sort):
        column, value = columns[index], values[index]
        beyond: ColumnElement[bool] | None
        if nulls[index]:
            beyond = column.is_not(None) if not key.descending else None
        elif key.descending:
            beyond = or_(column < value, column.is_(None)) if column.nullable else column < value
        else:
            beyond = column > value
        if beyond is not None:
            branches.append(and_(*(equal(before) for before in range(index)), beyond))
    if not branches:
        return false()
    first, after = sort[0], or_(*branches)
    if len(sort) == 1 or nulls[0] or (first.descending and columns[0].nullable):
        return after  # a descending nullable key: the NULL rows come after any value
    bound = columns[0] <= values[0] if first.descending else columns[0] >= values[0]
    return and_(bound, after)

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
from .policy import Checked, CheckedGroup, QueryPolicy
from .query import Sort


def filter_shape(conditions: Sequence[Checked]) -> Hashable:
    """What decides the SQL of `conditions`, values aside (is_null's value is part of it)."""
    return tuple(_shape(condition) for condition in conditions)


def _shape(condition: Checked) -> Hashable:
    if isinstance(condition, CheckedGroup):
        return (condition.kind, filter_shape(condition.members))
    operator = condition.operator
    return (condition.column.key, operator.name, operator.shape(condition.value))


def filter_params(conditions: Sequence[Checked], prefix: str = "f") -> dict[str, Any]:
    """The bound values for `filter_clauses(conditions, prefix)`."""
    params: dict[str, Any] = {}
    for index, condition in enumerate(conditions):
        name = f"{prefix}{index}"
        if isinstance(condition, CheckedGroup):
            params.update(filter_params(condition.members, f"{name}_"))
        else:
            params.update(condition.operator.params(name, condition.value))
    return params


def filter_clauses(conditions: Sequence[Checked], prefix: str = "f") -> list[ColumnElement[bool]]:
    """One SQL condition per checked condition, groups as OR / AND of their members."""
    clauses: list[ColumnElement[bool]] = []
    for index, condition in enumerate(conditions):
        name = f"{prefix}{index}"
        if isinstance(condition, CheckedGroup):
            members = filter_clauses(condition.members, f"{name}_")
            clauses.append(or_(*members) if condition.kind == "any" else and_(*members))
        else:
            clauses.append(condition.operator.clause(condition.column, condition.value, name))
    return clauses


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

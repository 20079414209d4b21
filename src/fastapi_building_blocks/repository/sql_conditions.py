"""Checked filters and keyset positions as SQLAlchemy Core expressions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, false, literal, or_
from sqlalchemy.sql.elements import ColumnElement

from ..dialects import Dialect
from .policy import CheckedFilter, QueryPolicy
from .query import Sort


def condition(checked: CheckedFilter) -> ColumnElement[bool]:
    column, value = checked.column, checked.value
    expression: ColumnElement[bool]
    match checked.op:
        case "eq":
            expression = column == value
        case "ne":
            expression = column != value
        case "lt":
            expression = column < value
        case "le":
            expression = column <= value
        case "gt":
            expression = column > value
        case "ge":
            expression = column >= value
        case "in":
            expression = column.in_(value)
        case "not_in":
            expression = column.not_in(value)
        case "like":
            expression = column.ilike(value)
        case "contains":
            expression = column.icontains(value, autoescape=True)
        case "startswith":
            expression = column.istartswith(value, autoescape=True)
        case "is_null":
            expression = column.is_(None) if value else column.is_not(None)
        case "between":
            expression = column.between(*value)
        case _:
            raise AssertionError(f"operator {checked.op!r} passed the policy but has no SQL")
    return expression


def order_by(policy: QueryPolicy, dialect: Dialect, sort: Sequence[Sort]) -> list[Any]:
    return [dialect.order_by(policy.column(key.field), key.descending) for key in sort]


def after_position(
    policy: QueryPolicy, sort: Sequence[Sort], values: Sequence[Any]
) -> ColumnElement[bool]:
    """Rows that come after `values` in `sort` order, NULL being the smallest value."""
    branches = []
    for index, (key, value) in enumerate(zip(sort, values, strict=True)):
        column = policy.column(key.field)
        value = literal(value, column.type) if value is not None else None  # typed: booleans too
        beyond: ColumnElement[bool] | None
        if value is None:
            beyond = column.is_not(None) if not key.descending else None
        elif key.descending:
            beyond = or_(column < value, column.is_(None)) if column.nullable else column < value
        else:
            beyond = column > value
        if beyond is None:
            continue
        equal_before = [
            policy.column(k.field).is_(None)
            if v is None
            else policy.column(k.field) == literal(v, policy.column(k.field).type)
            for k, v in zip(sort[:index], values[:index], strict=True)
        ]
        branches.append(and_(*equal_before, beyond))
    return or_(*branches) if branches else false()

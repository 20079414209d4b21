"""What a column can hold on every supported backend: the strictest of them, checked up front.

A value one backend would refuse (PostgreSQL: a NUL byte, int4 past 2^31; MySQL: a
datetime before year 1000; every server: text longer than the column) is refused on all
of them before any statement runs, so the contract does not depend on the database, and
a value SQLite would silently store is not a value PostgreSQL answers with a 500.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    Numeric,
    SmallInteger,
    String,
)

#: The range of each integer type on the narrowest backend that has it.
INTEGER_RANGES: tuple[tuple[type[Integer], int], ...] = (
    (SmallInteger, 2**15),
    (BigInteger, 2**63),
    (Integer, 2**31),
)
#: MySQL / MariaDB DATETIME and DATE hold years 1000 to 9999.
EARLIEST_YEAR = 1000

#: Why a value does not fit, or None when it does.
Check = Callable[[Any], str | None]


def value_check(column: Column[Any]) -> Check | None:
    """The check for values of `column`; None where every value of its Python type fits."""
    kind = column.type
    if isinstance(kind, String):
        return _text_check(kind.length)
    if isinstance(kind, Integer):
        bound = next(limit for integer, limit in INTEGER_RANGES if isinstance(kind, integer))
        return _integer_check(bound)
    if isinstance(kind, Numeric) and not isinstance(kind, Float):
        return _decimal_check(kind.precision, kind.scale)
    if isinstance(kind, Float):
        return _float_check
    if isinstance(kind, DateTime | Date) or python_type_of(column) in (datetime, date):
        return _date_check
    if isinstance(kind, JSON):
        return _json_check
    return None


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored as text on every backend, or None."""
    if "\x00" in value:
        return "text without NUL characters"
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            return "valid Unicode text (no lone surrogates)"
    return None


def _text_check(length: int | None) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return None
        if length is not None and len(value) > length:
            return f"at most {length} characters"
        if value.isascii() and "\x00" not in value:
            return None  # the common case, without a call
        return text_problem(value)

    return check


def _integer_check(bound: int) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, int) and not -bound <= value < bound:
            return f"an integer from {-bound} to {bound - 1}"
        return None

    return check


def _decimal_check(precision: int | None, scale: int | None) -> Check:
    whole_digits = None if precision is None else precision - (scale or 0)

    def check(value: Any) -> str | None:
        if isinstance(value, Decimal | float) and not math.isfinite(value):
            return "a finite number"
        if (
            whole_digits is not None
            and isinstance(value, Decimal | float | int)
            and abs(value) >= 10**whole_digits
        ):
            return f"a number with at most {whole_digits} digits before the point"
        return None

    return check


def _float_check(value: Any) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return "a finite number"
    return None


def _date_check(value: Any) -> str | None:
    if isinstance(value, date) and EARLIEST_YEAR < value.year < 9999:
        return None  # no offset can move it out of range (the common case)
    if isinstance(value, datetime) and value.utcoffset():
        try:
            value = value.astimezone(UTC)  # stored in UTC: the year that counts
        except OverflowError:
            value = date.min
    if isinstance(value, date) and value.year < EARLIEST_YEAR:
        return f"a date from year {EARLIEST_YEAR} to 9999 (in UTC)"
    return None


def _json_check(value: Any) -> str | None:
    """JSON documents: no text a backend refuses, at any depth."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem is not None:
                return problem
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
        elif isinstance(item, float) and not math.isfinite(item):
            return "JSON numbers must be finite"
    return None


def python_type_of(column: Column[Any]) -> type | None:
    """The Python type of a column's values; None where its type does not say."""
    try:
        return column.type.python_type
    except NotImplementedError:
        return None


@cache
def type_adapter(python_type: type) -> TypeAdapter[Any]:
    """pydantic's validator for `python_type`, made once per type."""
    return TypeAdapter(python_type)

"""The filter operators, one object each: how many values it takes and how they coerce,
its SQL, and its evaluation on a plain row. An operator is added here, and only here.

Both repositories use these objects, so the in-memory twin evaluates exactly what the
database is asked. SQL's three-valued logic is kept by the caller: a row whose value is
NULL matches nothing but `is_null`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any, ClassVar, Protocol

from pydantic import ValidationError
from sqlalchemy import Column, bindparam
from sqlalchemy.sql.elements import ColumnElement

from .values import python_type_of, text_problem, type_adapter

#: A list for `in` / `not_in` longer than this is refused: it would be a huge statement.
MAX_IN_VALUES = 1_000
#: Characters in a like / contains / startswith value: SQLite refuses patterns past 50,000
#: bytes ("LIKE or GLOB pattern too complex"), and a long pattern is a slow scan anyway.
MAX_PATTERN_LENGTH = 500
#: The escape character of every LIKE the package writes.
LIKE_ESCAPE = "/"


class ValuePolicy(Protocol):
    """What an operator needs from the query policy to check its value."""

    def coerce(self, field: str, value: Any) -> Any: ...

    def invalid(self, message: str, field: str | None = None) -> Exception: ...


class Operator:
    """One filter operator; subclasses by arity (one value, a pattern, a flag, a list)."""

    name: ClassVar[str]
    #: The HTTP language writes this operator's value as a comma-separated list.
    takes_list: ClassVar[bool] = False

    def check(self, policy: ValuePolicy, field: str, column: Column[Any], value: Any) -> Any:
        """The value coerced for `column`, or the policy's InvalidFilterError."""
        raise NotImplementedError

    def clause(self, column: Column[Any], value: Any, name: str) -> ColumnElement[bool]:
        """The SQL condition, its values bound as parameters named from `name`."""
        raise NotImplementedError

    def params(self, name: str, value: Any) -> dict[str, Any]:
        return {name: value}

    def shape(self, value: Any) -> Any:
        """What of the value decides the SQL (for the statement cache); None for most."""
        return None

    def matches(self, actual: Any, value: Any) -> bool:
        """Whether a non-NULL `actual` passes, as the database would decide."""
        raise NotImplementedError


class Comparison(Operator):
    """`eq ne lt le gt ge`: one value of the column's type."""

    def __init__(self, name: str, compare: Callable[[Any, Any], Any]) -> None:
        self.name = name  # type: ignore[misc]
        self._compare = compare

    def check(self, policy: ValuePolicy, field: str, column: Column[Any], value: Any) -> Any:
        if value is None:
            raise policy.invalid(
                f"{field!r} {self.name} needs a value; use is_null for NULL", field
            )
        return policy.coerce(field, value)

    def clause(self, column: Column[Any], value: Any, name: str) -> ColumnElement[bool]:
        return self._compare(column, bindparam(name))  # type: ignore[no-any-return]

    def matches(self, actual: Any, value: Any) -> bool:
        return bool(self._compare(actual, value))


class Pattern(Operator):
    """`like contains startswith`: text, matched ignoring the case of ASCII letters.

    `like` keeps `%` and `_` as wildcards; the others match the text literally. Every
    other character means itself on every backend (the escape character included).
    """

    def __init__(self, name: str, wrap: Callable[[str], str], literal: bool) -> None:
        self.name = name  # type: ignore[misc]
        self._wrap = wrap
        self._literal = literal

    def check(self, policy: ValuePolicy, field: str, column: Column[Any], value: Any) -> Any:
        if python_type_of(column) is not str:
            raise policy.invalid(f"{self.name} works on text fields, not {field!r}", field)
        if not isinstance(value, str):
            raise policy.invalid(f"{field!r} {self.name} needs a text value", field)
        if len(value) > MAX_PATTERN_LENGTH:
            raise policy.invalid(
                f"{field!r} {self.name} takes at most {MAX_PATTERN_LENGTH} characters", field
            )
        if (problem := text_problem(value)) is not None:
            raise policy.invalid(f"{field!r} {self.name}: {problem}", field)
        return value

    def clause(self, column: Column[Any], value: Any, name: str) -> ColumnElement[bool]:
        return column.ilike(bindparam(name), escape=LIKE_ESCAPE)

    def params(self, name: str, value: Any) -> dict[str, Any]:
        escaped = _escaped(value) if self._literal else value.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        return {name: self._wrap(escaped)}

    def matches(self, actual: Any, value: Any) -> bool:
        like = self._wrap(_as_like(value) if self._literal else value)
        return _like_regex(_like_pattern(like)).fullmatch(actual) is not None


class IsNull(Operator):
    """`is_null`: true or false; the only operator a NULL value passes."""

    name = "is_null"

    def check(self, policy: ValuePolicy, field: str, column: Column[Any], value: Any) -> Any:
        try:
            return bool(type_adapter(bool).validate_python(value))
        except ValidationError as error:
            raise policy.invalid(f"is_null on {field!r} takes true or false", field) from error

    def clause(self, column: Column[Any], value: Any, name: str) -> ColumnElement[bool]:
        return column.is_(None) if value else column.is_not(None)

    def params(self, name: str, value: Any) -> dict[str, Any]:
        return {}

    def shape(self, value: Any) -> Any:
        return value

    def matches(self, actual: Any, value: Any) -> bool:
        return actual is None if value else actual is not None


class Between(Operator):
    """`between`: two values, both ends included."""

    name = "between"
    takes_list = True

    def check(self, policy: ValuePolicy, field: str, column: Column[Any], value: Any) -> Any:
        low, high = _sequence(policy, field, self.name, value, exact=2)
        if low is None or high is None:
            raise policy.invalid(f"{field!r} between needs two values", field)
        return policy.coerce(field, low), policy.coerce(field, high)

    def clause(self, column: Column[Any], value: Any, name: str) -> ColumnElement[bool]:
        return column.between(bindparam(f"{name}_low"), bindparam(f"{name}_high"))

    def params(self, name: str, value: Any) -> dict[str, Any]:
        return {f"{name}_low": value[0], f"{name}_high": value[1]}

    def matches(self, actual: Any, value: Any) -> bool:
        return bool(value[0] <= actual <= value[1])


class Membership(Operator):
    """`in not_in`: a list of values (at most MAX_IN_VALUES), never NULL."""

    takes_list = True

    def __init__(self, name: str, inside: bool) -> None:
        self.name = name  # type: ignore[misc]
        self._inside = inside

    def check(self, policy: ValuePolicy, field: str, column: Column[Any], value: Any) -> Any:
        items = _sequence(policy, field, self.name, value, exact=None)
        if any(item is None for item in items):
            raise policy.invalid(f"{field!r} {self.name} cannot hold NULL; use is_null", field)
        return tuple(policy.coerce(field, item) for item in items)

    def clause(self, column: Column[Any], value: Any, name: str) -> ColumnElement[bool]:
        values: Any = bindparam(name, expanding=True)
        return column.in_(values) if self._inside else column.not_in(values)

    def params(self, name: str, value: Any) -> dict[str, Any]:
        return {name: list(value)}

    def matches(self, actual: Any, value: Any) -> bool:
        return (actual in value) is self._inside


def _escaped(text: str) -> str:
    """`text` matched literally inside a LIKE pattern."""
    for special in (LIKE_ESCAPE, "%", "_"):
        text = text.replace(special, LIKE_ESCAPE + special)
    return text


def _as_like(text: str) -> str:
    """A literal text as the like pattern the database is sent, for the in-memory match."""
    return text.replace("%", "\x00%").replace("_", "\x00_")


#: Patterns come from clients (filters): the compiled ones kept are bounded.
PATTERNS_KEPT = 1_024


@lru_cache(maxsize=PATTERNS_KEPT)
def _like_pattern(pattern: str) -> str:
    """A LIKE pattern as a regular expression's text (\\x00 marks a literal % or _)."""
    parts: list[str] = []
    literal_next = False
    for character in pattern:
        if character == "\x00":
            literal_next = True
            continue
        if not literal_next and character == "%":
            parts.append(".*")
        elif not literal_next and character == "_":
            parts.append(".")
        else:
            parts.append(re.escape(character))
        literal_next = False
    return "".join(parts)


@lru_cache(maxsize=PATTERNS_KEPT)
def _like_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE | re.ASCII | re.DOTALL)


def _sequence(
    policy: ValuePolicy, field: str, op: str, value: Any, exact: int | None
) -> tuple[Any, ...]:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise policy.invalid(f"{field!r} {op} needs a list of values", field)
    items = tuple(value)
    if exact is not None and len(items) != exact:
        raise policy.invalid(f"{field!r} {op} needs exactly {exact} values", field)
    if len(items) > MAX_IN_VALUES:
        raise policy.invalid(f"{field!r} {op} takes at most {MAX_IN_VALUES} values", field)
    return items


OPERATORS: dict[str, Operator] = {
    operator.name: operator
    for operator in (
        Comparison("eq", lambda a, b: a == b),
        Comparison("ne", lambda a, b: a != b),
        Comparison("lt", lambda a, b: a < b),
        Comparison("le", lambda a, b: a <= b),
        Comparison("gt", lambda a, b: a > b),
        Comparison("ge", lambda a, b: a >= b),
        Membership("in", inside=True),
        Membership("not_in", inside=False),
        Pattern("like", lambda pattern: pattern, literal=False),
        Pattern("contains", lambda text: f"%{text}%", literal=True),
        Pattern("startswith", lambda text: f"{text}%", literal=True),
        IsNull(),
        Between(),
    )
}

"""Checks queries against a table before they run: the allow-list and value coercion.

Both repositories use the same policy, so the in-memory twin rejects exactly what the
database-backed one rejects, and compares exactly the values the database would.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeAlias

from pydantic import ValidationError
from sqlalchemy import Column, Table, UniqueConstraint

from ..errors import InvalidFilterError, InvalidValueError
from .operators import OPERATORS, Operator
from .query import Condition, Filter, FilterGroup, Sort, SortKeys, SortOrder
from .values import Check, python_type_of, type_adapter, value_check

#: Filters in one query, groups included: SQLite refuses deep expression trees
#: ("Expression tree is too large" near 1,000 terms), and no screen needs more.
MAX_FILTERS = 50
#: How deep `any_of` / `all_of` groups nest.
MAX_GROUP_DEPTH = 4
#: LIMIT and OFFSET: PostgreSQL's driver binds them as int4.
MAX_ROW_NUMBER = 2**31 - 1
#: Distinct sort requests whose checked order is kept before the cache starts over.
MAX_CACHED_ORDERS = 256
#: Types a filter or sort cannot meaningfully compare (JSON reports `object`).
_UNCOMPARABLE_TYPES = (dict, list, bytes)


@dataclass(frozen=True, slots=True)
class CheckedFilter:
    """A filter on an allowed column with a value coerced to the column's Python type."""

    column: Column[Any]
    operator: Operator
    value: Any


@dataclass(frozen=True, slots=True)
class CheckedGroup:
    """Checked conditions joined by OR ("any") or AND ("all")."""

    kind: str
    members: tuple[Checked, ...]


Checked: TypeAlias = CheckedFilter | CheckedGroup


def leaves(conditions: Iterable[Checked]) -> Iterator[CheckedFilter]:
    """Every filter inside `conditions`, groups opened."""
    for condition in conditions:
        if isinstance(condition, CheckedGroup):
            yield from leaves(condition.members)
        else:
            yield condition


def _leaf_count(conditions: Iterable[Condition], depth: int, limit: QueryPolicy) -> int:
    if depth > MAX_GROUP_DEPTH:
        raise limit.invalid(f"filter groups nest at most {MAX_GROUP_DEPTH} deep")
    return sum(
        _leaf_count(condition.members, depth + 1, limit)
        if isinstance(condition, FilterGroup)
        else 1
        for condition in conditions
    )


def is_integer_column(column: Column[Any]) -> bool:
    return python_type_of(column) is int


def _is_comparable(column: Column[Any]) -> bool:
    python_type = python_type_of(column)
    if python_type is None or python_type is object:
        return False
    return not issubclass(python_type, _UNCOMPARABLE_TYPES)


class QueryPolicy:
    """The fields of one table a caller may filter and sort on, and how values coerce."""

    def __init__(
        self,
        table: Table,
        filterable: Collection[str] | None = None,
        sortable: Collection[str] | None = None,
    ) -> None:
        self.table = table
        comparable = [column.key for column in table.columns if _is_comparable(column)]
        self.filterable = frozenset(comparable if filterable is None else filterable)
        self.sortable = frozenset(comparable if sortable is None else sortable)
        for name in self.filterable | self.sortable:
            if name not in table.columns:
                raise ValueError(f"{table.name} has no column {name!r} to allow")
        self.unique_keys = _unique_keys(table)
        self._coercers: dict[str, Callable[[Any], Any]] = {
            column.key: self._coercer(column) for column in table.columns
        }
        self._checks: dict[str, Check] = {
            column.key: check
            for column in table.columns
            if (check := value_check(column)) is not None
        }
        self._check_items = tuple(self._checks.items())
        self._columns: dict[str, Column[Any]] = {column.key: column for column in table.columns}
        self._orders: dict[tuple[str | Sort, ...], SortOrder] = {}

    def column(self, name: str) -> Column[Any]:
        return self._columns[name]

    def invalid(self, message: str, field: str | None = None) -> InvalidFilterError:
        return InvalidFilterError(
            f"{self.table.name}: {message}", table=self.table.name, field=field
        )

    def _coercer(self, column: Column[Any]) -> Callable[[Any], Any]:
        python_type = python_type_of(column)
        if python_type is None:
            return lambda value: value
        adapter = type_adapter(python_type)
        assume_utc = python_type is datetime

        def coerce(value: Any) -> Any:
            if type(value) is python_type and not assume_utc:
                return value  # already the column's type: nothing to convert (hot path)
            coerced = adapter.validate_python(value)
            if assume_utc:
                if coerced.tzinfo is None:
                    return coerced.replace(tzinfo=UTC)
                return coerced.astimezone(UTC)  # OverflowError near year 1 or 9999
            return coerced

        return coerce

    def coerce(self, field: str, value: Any) -> Any:
        """`value` as the Python type of column `field`, or InvalidFilterError."""
        if value is None:
            return None
        try:
            coerced = self._coercers[field](value)
        except (ValidationError, ValueError, TypeError, OverflowError) as error:
            raise self.invalid(
                f"{_shown(value)} is not a valid value for {field!r}", field
            ) from error
        check = self._checks.get(field)
        problem = check(coerced) if check is not None else None
        if problem is not None:
            raise self.invalid(f"{field!r} takes {problem}", field)
        return coerced

    def check_row(self, values: Mapping[str, Any]) -> None:
        """InvalidValueError if a value to be written does not fit its column on every backend."""
        self.check_rows((values,))

    def check_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """`check_row` for many rows, column by column (a bulk load's hot loop)."""
        for name, check in self._check_items:
            for row in rows:
                value = row.get(name)
                if value is not None and (problem := check(value)) is not None:
                    raise InvalidValueError(
                        f"{self.table.name}: {name} takes {problem}",
                        table=self.table.name,
                        columns=(name,),
                    )

    def check_range(self, limit: int | None, offset: int, field: str = "offset") -> None:
        """A LIMIT and OFFSET every backend can bind, or InvalidFilterError naming `field`."""
        if (limit is not None and not 0 <= limit <= MAX_ROW_NUMBER) or not (
            0 <= offset <= MAX_ROW_NUMBER
        ):
            raise self.invalid(f"limit and offset must lie between 0 and {MAX_ROW_NUMBER}", field)

    def check_filters(self, filters: Iterable[Condition]) -> list[Checked]:
        """Each filter and group checked: fields allowed, operators known, values coerced.

        At most MAX_FILTERS filters in all (groups included) and MAX_GROUP_DEPTH levels.
        """
        candidates = list(filters)
        if _leaf_count(candidates, depth=0, limit=self) > MAX_FILTERS:
            raise self.invalid(f"at most {MAX_FILTERS} filters in one query")
        return [self._check(one) for one in candidates]

    def _check(self, candidate: Condition) -> Checked:
        if isinstance(candidate, FilterGroup):
            if not candidate.members:
                raise self.invalid(f"an {candidate.kind}_of group needs at least one filter")
            return CheckedGroup(candidate.kind, tuple(map(self._check, candidate.members)))
        return self.check_filter(candidate)

    def check_filter(self, candidate: Filter) -> CheckedFilter:
        field, op = candidate.field, candidate.op
        if field not in self.filterable:
            raise self.invalid(f"cannot filter on {field!r}", field)
        operator = OPERATORS.get(op)
        if operator is None:
            allowed = ", ".join(sorted(OPERATORS))
            raise self.invalid(
                f"unknown operator {op!r} for {field!r} (use one of: {allowed})", field
            )
        column = self.column(field)
        return CheckedFilter(column, operator, operator.check(self, field, column, candidate.value))

    def check_sort(self, keys: SortKeys) -> SortOrder:
        """The sort keys, each on an allowed field, with the primary key last as tie-breaker.

        The tie-breaker runs the way the last key does: an index on the sorted columns
        (which InnoDB ends with the primary key) then reads rows already in order, so a
        page stops at its limit instead of sorting every match (EXPLAIN: no filesort).
        Checked once per distinct request: a page asks the same as the last one. A lone
        string is one key (`sort="-score"`), not a sequence of one-letter keys.
        """
        requested = (keys,) if isinstance(keys, str) else tuple(keys)
        try:
            order = self._orders.get(requested)
        except TypeError:  # not hashable: not a key at all, and the check below says so
            return self._checked_sort(requested)
        if order is None:
            order = self._checked_sort(requested)
            if len(self._orders) >= MAX_CACHED_ORDERS:
                self._orders.clear()  # callers are inventing orders: stay bounded
            self._orders[requested] = order
        return order

    def _checked_sort(self, keys: SortKeys) -> SortOrder:
        for key in keys:
            if not isinstance(key, str | Sort):
                raise self.invalid(f"a sort key is a field name, not a {type(key).__name__}")
        parsed = [Sort.parse(key) for key in keys]
        for key in parsed:
            if key.field not in self.sortable:
                raise self.invalid(f"cannot sort on {key.field!r}", key.field)
        if len({key.field for key in parsed}) != len(parsed):
            raise self.invalid("a field appears twice in the sort")
        primary_key = self.primary_key_name
        if all(key.field != primary_key for key in parsed):
            parsed.append(Sort(primary_key, descending=bool(parsed) and parsed[-1].descending))
        return SortOrder(parsed)

    @property
    def primary_key_name(self) -> str:
        return next(iter(self.table.primary_key.columns)).key

    def check_conflict_columns(self, columns: tuple[str, ...], values: Mapping[str, Any]) -> None:
        """Upsert needs a declared unique key with a value for each of its columns."""
        if frozenset(columns) not in self.unique_keys:
            raise self.invalid(f"upsert needs a unique key, and ({', '.join(columns)}) is none")
        if any(values.get(name) is None for name in columns):
            raise self.invalid(f"upsert needs values for {', '.join(columns)}")

    def check_values(self, values: Mapping[str, Any], kept: Collection[str]) -> dict[str, Any]:
        """Column values a write sets, coerced: known columns only, none of `kept`.

        `kept`: the key and the columns the repository manages itself (version, audit).
        """
        unknown = [name for name in values if name not in self.table.columns]
        if unknown:
            raise self.invalid(f"no such field(s): {', '.join(map(repr, unknown))}")
        refused = [name for name in values if name == self.primary_key_name or name in kept]
        if refused:
            raise self.invalid(
                f"update_where cannot set {', '.join(map(repr, refused))}: "
                "the key stays, and the repository keeps managed columns itself",
                refused[0],
            )
        return {name: self.coerce_value(name, value) for name, value in values.items()}

    def coerce_value(self, field: str, value: Any) -> Any:
        """`coerce` for a value to be written: InvalidValueError, as a bad body is."""
        try:
            return self.coerce(field, value)
        except InvalidFilterError as error:
            raise InvalidValueError(str(error), table=self.table.name, columns=(field,)) from error


def _shown(value: Any) -> str:
    """A value as an error message may quote it: short, and never a Python repr."""
    text = value if isinstance(value, str) else str(value)
    text = text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text
    return repr(text) if len(text) <= 60 else repr(text[:57] + "...")


def _unique_keys(table: Table) -> list[frozenset[str]]:
    """Every column set the table declares unique: key, unique constraints and indexes."""
    keys = [frozenset(column.key for column in table.primary_key.columns)]
    keys.extend(
        frozenset(column.key for column in constraint.columns)
        for constraint in table.constraints
        if isinstance(constraint, UniqueConstraint)
    )
    keys.extend(
        frozenset(column.key for column in index.columns) for index in table.indexes if index.unique
    )
    keys.extend(frozenset({column.key}) for column in table.columns if column.unique)
    return list(dict.fromkeys(keys))

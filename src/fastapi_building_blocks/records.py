"""A statement's rows as the driver returned them: values in column order, dicts on demand.

A page of 50 rows made into 50 dicts, and then into 50 entities, spends more on the dicts
than on the entities: on PostgreSQL a third of the Python time of a keyset page. `Records`
is still a sequence of mappings (each row becomes a dict when it is read as one), so any
caller may treat it as the list of dicts it replaces, but the repository builds its
entities straight from the values (`values_of`). A leaf module: the driver path makes
these, the repository contract reads them.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, overload

Getter = Callable[[Sequence[Any]], tuple[Any, ...]]


class Records(Sequence[Mapping[str, Any]]):
    """Rows of one statement: `values[i]` holds row i's values in `columns` order."""

    __slots__ = ("_getters", "columns", "values")

    def __init__(
        self,
        columns: tuple[str, ...],
        values: Sequence[Sequence[Any]],
        getters: dict[tuple[str, ...], Getter],
    ) -> None:
        self.columns = columns
        self.values = values
        #: Shared by every result of one statement: positions are looked up once.
        self._getters = getters

    def __len__(self) -> int:
        return len(self.values)

    @overload
    def __getitem__(self, index: int) -> Mapping[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> Records: ...

    def __getitem__(self, index: int | slice) -> Mapping[str, Any] | Records:
        if isinstance(index, slice):
            return Records(self.columns, self.values[index], self._getters)
        return dict(zip(self.columns, self.values[index]))  # noqa: B905 - same length

    def values_of(self, names: tuple[str, ...]) -> Iterator[tuple[Any, ...]]:
        """Each row's values of `names`, in that order (at least two names: an itemgetter
        of one gives the value, not a tuple)."""
        getter = self._getters.get(names)
        if getter is None:
            positions = [self.columns.index(name) for name in names]
            getter = self._getters[names] = operator.itemgetter(*positions)
        return map(getter, self.values)

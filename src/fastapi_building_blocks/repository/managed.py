"""Columns the repository keeps itself: timestamps, actor, version and soft delete.

A table opts in by using the helpers in `columns`; the repository notices them once, when
its class is defined, and applies the same rules on every backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table

from ..audit import current_actor
from ..columns import ROLE
from .operators import OPERATORS
from .policy import Checked, CheckedFilter, leaves


class ManagedColumns:
    """The managed columns of one table, by role; None where the table lacks one."""

    def __init__(self, table: Table) -> None:
        roles = {column.info[ROLE]: column for column in table.columns if ROLE in column.info}
        self._columns = roles
        self.created_at = _key(roles, "created_at")
        self.updated_at = _key(roles, "updated_at")
        self.created_by = _key(roles, "created_by")
        self.updated_by = _key(roles, "updated_by")
        self.deleted_at = _key(roles, "deleted_at")
        self.version = _key(roles, "version")
        #: Present on the row only: written at creation and never again.
        self.immutable = frozenset(
            name for name in (self.created_at, self.created_by, self.deleted_at) if name
        )
        #: Every managed column: a caller never sets one directly.
        self.all = frozenset(str(column.key) for column in roles.values())
        #: What `update_fields` refuses: every managed column but the version it checks.
        self.all_but_version = self.all - {self.version}
        self._live = (
            CheckedFilter(roles["deleted_at"], OPERATORS["is_null"], True)
            if self.deleted_at
            else None
        )
        self._deleted = (
            CheckedFilter(roles["deleted_at"], OPERATORS["is_null"], False)
            if self.deleted_at
            else None
        )

    def on_create(self, values: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
        """`values` with every managed column set as for a new row, whatever the input said.

        `now` lets a bulk load give all its rows one creation instant.
        """
        if not self._columns:
            return values
        now, actor = now or datetime.now(UTC), current_actor.get()
        for name, value in (
            (self.created_at, now), (self.updated_at, now),
            (self.created_by, actor), (self.updated_by, actor),
            (self.deleted_at, None), (self.version, 1),
        ):  # fmt: skip
            if name:
                values[name] = value
        return values

    def on_update(self, values: dict[str, Any]) -> dict[str, Any]:
        """The columns an update writes: creation facts dropped, change facts set."""
        for name in self.immutable:
            values.pop(name, None)
        if self.updated_at:
            values[self.updated_at] = datetime.now(UTC)
        if self.updated_by:
            values[self.updated_by] = current_actor.get()
        return values

    def soft_delete_values(self) -> dict[str, Any]:
        assert self.deleted_at is not None
        return self.on_update({}) | {self.deleted_at: datetime.now(UTC)}

    def restore_values(self) -> dict[str, Any]:
        assert self.deleted_at is not None
        return self.on_update({}) | {self.deleted_at: None}

    def live_only(self, filters: list[Checked]) -> list[Checked]:
        """Filters plus "not deleted", unless the caller already asks about deleted_at."""
        if self._live is None or any(f.column.key == self.deleted_at for f in leaves(filters)):
            return filters
        return [*filters, self._live]

    def live_condition(self) -> list[Checked]:
        return [self._live] if self._live is not None else []

    def deleted_condition(self) -> list[Checked]:
        return [self._deleted] if self._deleted is not None else []

    def state_condition(self, deleted: bool) -> list[Checked]:
        """The row is live, or with `deleted` soft-deleted: what an update by key requires."""
        return self.deleted_condition() if deleted else self.live_condition()

    def update_columns(self, values: Mapping[str, Any], conflict: tuple[str, ...]) -> list[str]:
        """Columns an upsert overwrites when the row exists: not the key, not creation facts.

        `deleted_at` is overwritten (with NULL): an upsert revives a soft-deleted row.
        """
        skip = (set(conflict) | self.immutable | {self.version}) - {self.deleted_at}
        return [name for name in values if name not in skip]


def _key(roles: Mapping[str, Any], role: str) -> str | None:
    column = roles.get(role)
    return None if column is None else str(column.key)

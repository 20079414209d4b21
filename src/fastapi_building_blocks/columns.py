"""Column types and factories for SQLAlchemy Core tables, the same on every backend.

users = Table(
    "users", metadata(),
    uuid_primary_key(),
    Column("email", String(255), nullable=False, unique=True),
    created_at(),
)
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Uuid,
)
from sqlalchemy.engine import Dialect as SQLAlchemyDialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from .dialects import dialect_named

#: Constraint names that are the same on every backend, so a unique violation can be
#: traced back to its columns whatever the database reports.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def metadata() -> MetaData:
    """A `MetaData` using `NAMING_CONVENTION`; use it for every table a repository serves."""
    return MetaData(naming_convention=NAMING_CONVENTION)


#: 48 bits of Unix milliseconds, then 74 bits of rand_a and rand_b, as one number.
_RANDOM_BITS = 74
_last_uuid7 = 0
_uuid7_lock = threading.Lock()


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7): new keys land at the end of the index.

    Each is greater than the one before it in this process, also within one millisecond
    (RFC 9562 section 6.2, method 3: a key that would not be is the previous one plus one).
    The outbox orders an aggregate's events by their id, so two events published in the
    same millisecond must keep the order they were published in.
    """
    milliseconds = (time.time_ns() // 1_000_000) & ((1 << 48) - 1)
    candidate = milliseconds << _RANDOM_BITS | int.from_bytes(os.urandom(10), "big") >> 6
    global _last_uuid7
    with _uuid7_lock:
        if candidate <= _last_uuid7:  # the same millisecond, or the clock stepped back
            candidate = _last_uuid7 + 1
        _last_uuid7 = candidate
    random = candidate & ((1 << _RANDOM_BITS) - 1)
    value = (candidate >> _RANDOM_BITS) << 80
    value |= 0x7 << 76  # version
    value |= (random >> 62) << 64  # rand_a: 12 bits
    value |= 0b10 << 62  # variant
    value |= random & ((1 << 62) - 1)  # rand_b: 62 bits
    return uuid.UUID(int=value)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored as UTC, with microseconds, on every backend.

    PostgreSQL and SQL Server keep the offset natively; MySQL/MariaDB and SQLite store the
    UTC wall time. Reads always return an aware UTC datetime; naive writes are refused,
    because a naive time has no single meaning.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: SQLAlchemyDialect) -> TypeEngine[Any]:
        return dialect.type_descriptor(dialect_named(dialect.name).datetime_type())

    @staticmethod
    def normalize(value: datetime) -> datetime:
        """The value as it reads back: the same instant in UTC; naive values are refused."""
        if value.tzinfo is UTC:  # the common case, and bulk loads convert every row
            return value
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime: give it a timezone (e.g. datetime.now(UTC))")
        return value.astimezone(UTC)

    def process_bind_param(self, value: datetime | None, dialect: SQLAlchemyDialect) -> Any:
        if value is None:
            return None
        value = self.normalize(value)
        if dialect_named(dialect.name).stores_naive_utc:
            return value.replace(tzinfo=None)
        return value

    def result_processor(
        self, dialect: SQLAlchemyDialect, coltype: object
    ) -> Callable[[Any], datetime | None] | None:
        # Every value of every row of a page goes through it: none where the driver
        # already reads UTC (a tenth of a page's conversion on PostgreSQL).
        if dialect_named(dialect.name).reads_utc_datetimes:
            return None
        return super().result_processor(dialect, coltype)

    def process_result_value(self, value: Any, dialect: SQLAlchemyDialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @property
    def python_type(self) -> type[datetime]:
        return datetime


def uuid_primary_key(name: str = "id") -> Column[uuid.UUID]:
    """A UUID key, generated client-side as UUIDv7 so inserts need no round trip for it."""
    return Column(name, Uuid(), primary_key=True, default=uuid7)


def integer_primary_key(name: str = "id") -> Column[int]:
    """An auto-increment key (BIGINT where the backend allows it as auto-increment)."""
    return Column(
        name, BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )


def foreign_key(
    name: str,
    target: Table | Column[Any],
    *,
    nullable: bool = False,
    ondelete: str | None = None,
    index: bool = True,
) -> Column[Any]:
    """A column referring to `target`: a table (its one-column primary key) or a column.

    It takes the target's type, variants included, so it matches `integer_primary_key()`
    (BIGINT, INTEGER on SQLite) or `uuid_primary_key()` on every backend. Indexed by
    default: the database checks the reference on every delete of a target row, and
    without an index it scans. `ondelete`: "CASCADE", "SET NULL" or "RESTRICT".
    """
    if isinstance(target, Table):
        keys = list(target.primary_key.columns)
        if len(keys) != 1:
            raise ValueError(
                f"{target.name} has {len(keys)} primary key columns: name the column to refer to"
            )
        target = keys[0]
    return Column(
        name,
        target.type,
        ForeignKey(target, ondelete=ondelete),
        nullable=nullable,
        index=index,
    )


#: `Column.info` key under which the helpers below mark the role a repository gives them.
ROLE = "fastapi_building_blocks.role"


def created_at(name: str = "created_at") -> Column[datetime]:
    """Set by the repository when the row is created; never taken from input."""
    return Column(name, UTCDateTime(), nullable=False, info={ROLE: "created_at"})


def updated_at(name: str = "updated_at") -> Column[datetime]:
    """Set by the repository on create and on every update."""
    return Column(name, UTCDateTime(), nullable=False, info={ROLE: "updated_at"})


def created_by(name: str = "created_by") -> Column[str]:
    """The actor (see `audit.acting_as`) that created the row."""
    return Column(name, String(255), nullable=True, info={ROLE: "created_by"})


def updated_by(name: str = "updated_by") -> Column[str]:
    """The actor that last changed the row."""
    return Column(name, String(255), nullable=True, info={ROLE: "updated_by"})


def deleted_at(name: str = "deleted_at") -> Column[datetime]:
    """Soft delete: `delete` sets it, reads hide the row, `restore` clears it."""
    return Column(name, UTCDateTime(), nullable=True, info={ROLE: "deleted_at"})


def version(name: str = "version") -> Column[int]:
    """Optimistic locking: `update` must name the current version and increments it."""
    return Column(name, Integer(), nullable=False, default=1, info={ROLE: "version"})

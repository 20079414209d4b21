"""One exception tree for everything the package can report.

Every driver error of every dialect is translated into one of these, so services catch
our types and never a driver's. Messages carry context (table, columns, constraint) and
never a password or a full connection URL.

    BuildingBlocksError
    ├── ConfigurationError              bad URL, unknown scheme, driver not installed
    └── RepositoryError
        ├── NotFoundError               404: no row with that key
        ├── MultipleResultsFoundError   a lookup expected one row and found several
        ├── InvalidFilterError          400: unknown field or operator, bad value, bad page
        ├── ConflictError               409: the write clashes with stored rows
        │   ├── UniqueViolationError        a unique key is already taken
        │   └── ForeignKeyViolationError    a referenced row is missing, or still referenced
        ├── ConstraintViolationError    422: the row itself breaks a schema rule
        │   ├── NotNullViolationError
        │   └── CheckViolationError
        ├── ConcurrencyError            409: the row changed since it was read (stale version)
        ├── DatabaseUnavailableError    503: refused, lost or timed-out connection
        └── UnitOfWorkError             used outside its block, or after a failed operation
"""

from __future__ import annotations

from collections.abc import Sequence


class BuildingBlocksError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigurationError(BuildingBlocksError):
    """The package was set up wrongly: fix the URL, the settings or the installed extras."""


class RepositoryError(BuildingBlocksError):
    """A repository or unit-of-work operation failed; `table` says where, if known."""

    def __init__(self, message: str, *, table: str | None = None) -> None:
        super().__init__(message)
        self.table = table


class NotFoundError(RepositoryError):
    """No row has the requested key."""

    def __init__(self, table: str, key: object) -> None:
        super().__init__(f"{table}: no row with key {key!r}", table=table)
        self.key = key


class MultipleResultsFoundError(RepositoryError):
    """A lookup that promises at most one row matched several."""


class InvalidFilterError(RepositoryError):
    """A query asked for something outside the allowed language: the caller's mistake."""

    def __init__(self, message: str, *, table: str | None = None, field: str | None = None):
        super().__init__(message, table=table)
        self.field = field


class ConstraintViolationError(RepositoryError):
    """The database refused a write because of a schema constraint."""

    def __init__(
        self,
        message: str,
        *,
        table: str | None = None,
        constraint: str | None = None,
        columns: Sequence[str] = (),
    ) -> None:
        super().__init__(message, table=table)
        self.constraint = constraint
        self.columns = tuple(columns)


class ConflictError(ConstraintViolationError):
    """The write clashes with rows already stored: retrying the same write cannot help."""


class UniqueViolationError(ConflictError):
    """A unique key (primary key, unique constraint or unique index) is already taken."""


class ForeignKeyViolationError(ConflictError):
    """A referenced row does not exist, or a row being removed is still referenced."""


class NotNullViolationError(ConstraintViolationError):
    """A required column got no value."""


class CheckViolationError(ConstraintViolationError):
    """A CHECK constraint rejected the row."""


class ConcurrencyError(RepositoryError):
    """Someone else changed the row since it was read: reload and try again."""


class DatabaseUnavailableError(RepositoryError):
    """The database could not be reached or went away; the operation did not complete."""

    retry_after_seconds = 5


class UnitOfWorkError(RepositoryError):
    """The unit of work cannot go on: not entered yet, or an operation in it failed.

    After a failed operation only `rollback()` (or leaving the block) is allowed, on every
    backend alike; wrap an operation that may fail in `uow.savepoint()` to carry on.
    """

"""One exception tree for everything the package can report.

Every driver error of every dialect is translated into one of these, so services catch
our types and never a driver's. Messages carry context (table, columns, constraint) and
never a password or a full connection URL. The tree below is the class hierarchy (a
test holds the two together):

    BuildingBlocksError
    ├── ConfigurationError              bad URL, unknown scheme, driver not installed, login refused
    └── RepositoryError
        ├── NotFoundError               404: no row with that key
        ├── MultipleResultsFoundError   a lookup expected one row and found several
        ├── InvalidFilterError          400: unknown field or operator, bad value, bad page
        ├── ConflictError               409: the write clashes with stored rows
        │   ├── UniqueViolationError        a unique key is already taken
        │   └── ForeignKeyViolationError    a referenced row is missing, or still referenced
        ├── ConstraintViolationError    422: the row itself breaks a schema rule
        │   ├── NotNullViolationError       a required column got no value
        │   ├── CheckViolationError         a CHECK constraint refused the row
        │   └── InvalidValueError           a value its column cannot hold on some backend
        ├── ConcurrencyError            409: the row changed since it was read (stale version)
        │   └── IdempotencyKeyInUseError    a request with the same Idempotency-Key is in flight
        ├── IdempotencyKeyReusedError   422: an Idempotency-Key sent again with another request
        ├── DatabaseUnavailableError    503: refused, lost or timed-out connection
        │   ├── StatementTimeoutError       504: a statement ran past the statement timeout
        │   └── LoginRefusedError           the server refused the credentials or database
        ├── CommitOutcomeUnknownError   503: a COMMIT's answer was lost
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
        super().__init__(f"{table}: no row with key {key}", table=table)
        self.key = key


class MultipleResultsFoundError(RepositoryError):
    """A lookup that promises at most one row matched several."""


class InvalidFilterError(RepositoryError):
    """A query asked for something outside the allowed language: the caller's mistake."""

    def __init__(self, message: str, *, table: str | None = None, field: str | None = None):
        super().__init__(message, table=table)
        self.field = field


class _ConstraintError(RepositoryError):
    """An error about a constraint of the table: its name and columns, where known."""

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


class ConflictError(_ConstraintError):
    """The write clashes with rows already stored: retrying the same write cannot help."""


class UniqueViolationError(ConflictError):
    """A unique key (primary key, unique constraint or unique index) is already taken."""


class ForeignKeyViolationError(ConflictError):
    """A referenced row does not exist, or a row being removed is still referenced."""

    @classmethod
    def missing_target(
        cls, table: str, columns: tuple[str, ...], constraint: str | None
    ) -> ForeignKeyViolationError:
        """A value of `columns` refers to a row that does not exist: they are at fault."""
        return cls(
            f"{table}: {', '.join(columns)} refers to a row that does not exist",
            table=table, constraint=constraint, columns=columns,
        )  # fmt: skip

    @classmethod
    def still_referenced(
        cls, table: str, referring: str, constraint: str | None
    ) -> ForeignKeyViolationError:
        """The row is still referenced from `referring`: no field of the request is at fault."""
        return cls(
            f"{table}: the row is still referenced from {referring}",
            table=table, constraint=constraint,
        )  # fmt: skip


class ConstraintViolationError(_ConstraintError):
    """The database (or the repository, for it) refused the row for a schema rule."""


class NotNullViolationError(ConstraintViolationError):
    """A required column got no value."""


class CheckViolationError(ConstraintViolationError):
    """A CHECK constraint rejected the row."""


class InvalidValueError(ConstraintViolationError):
    """A value its column cannot hold: too long, out of range, or text one backend refuses.

    Checked before the statement runs, the same on every backend, so a value that one
    supported database cannot store is refused by all of them.
    """


class ConcurrencyError(RepositoryError):
    """Someone else changed the row since it was read: reload and try again."""


class IdempotencyKeyInUseError(ConcurrencyError):
    """Another request with the same Idempotency-Key is still running: retry later."""


class IdempotencyKeyReusedError(RepositoryError):
    """The Idempotency-Key was used before for a different request (method, path, body)."""


class DatabaseUnavailableError(RepositoryError):
    """The database could not be reached or went away; the operation did not complete."""

    retry_after_seconds = 5


class StatementTimeoutError(DatabaseUnavailableError):
    """A statement ran past the session's statement timeout and was cancelled."""


class LoginRefusedError(DatabaseUnavailableError):
    """The server answered but refused the login or the database name: a setup mistake.

    A request that meets it is a 503 like any outage; a session connecting at startup
    does not retry it (see `SQLAlchemySession.connect`).
    """


class CommitOutcomeUnknownError(RepositoryError):
    """The answer to a COMMIT was lost (the connection went, or gave none in time): the
    change may or may not be stored. Outside a unit of work a lone write is its own
    COMMIT, so the same holds for it.

    Unlike `DatabaseUnavailableError` a blind retry is not safe: read the data back (or
    retry with an idempotency key) before writing again.
    """


class UnitOfWorkError(RepositoryError):
    """The unit of work cannot go on: not entered yet, or an operation in it failed.

    After a failed operation only `rollback()` (or leaving the block) is allowed, on every
    backend alike; wrap an operation that may fail in `uow.savepoint()` to carry on.
    """

"""Driver errors of every dialect, turned into the package's exception tree."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator

from sqlalchemy import Table
from sqlalchemy import exc as sa_exc

from ..dialects import Diagnosis, Dialect, Failure
from ..errors import (
    CheckViolationError,
    CommitOutcomeUnknownError,
    ConcurrencyError,
    ConflictError,
    ConstraintViolationError,
    DatabaseUnavailableError,
    ForeignKeyViolationError,
    InvalidValueError,
    LoginRefusedError,
    NotNullViolationError,
    RepositoryError,
    StatementTimeoutError,
    UniqueViolationError,
)

logger = logging.getLogger("fastapi_building_blocks.database")

#: Errors raised before a driver could wrap them: refused sockets, DNS, timeouts.
_CONNECTION_ERRORS = (OSError, TimeoutError, ConnectionError)
#: Raised while a value is converted for the driver (a bind processor, the driver's own
#: encoder): the value, not the database, is at fault.
_VALUE_ERRORS = (ValueError, OverflowError, UnicodeError, TypeError)
#: Where driver messages quote a row's value (names of tables and columns are quoted
#: elsewhere and stay): after ": " (`for type uuid: "x"`), "entry " (MySQL's duplicate
#: entry), "=", and PostgreSQL's `Key (email)=(x)` details.
_LITERALS = re.compile(r"""(?:(?<=: )|(?<=entry )|(?<==))("[^"]*"|'[^']*')|\([^)]*\)=\([^)]*\)""")


def lost_outcome(
    error: BaseException, translated: BaseException, where: str
) -> CommitOutcomeUnknownError | None:
    """What a write that commits by itself (a lone statement in autocommit, a COMMIT)
    raises when its reply was lost: the connection went, or the client stopped waiting
    for the answer. The server may have done the write, so the caller must not hear
    that it failed; None for every other error (the server refused it, or cancelled it
    at its own statement timeout: then nothing was stored)."""
    client_gave_up = isinstance(error, TimeoutError)  # the server's cancel is a driver error
    connection_lost = isinstance(translated, DatabaseUnavailableError) and not isinstance(
        translated, StatementTimeoutError
    )
    if client_gave_up or connection_lost:
        return CommitOutcomeUnknownError(
            f"{where}: the answer to the write was lost: it may or may not be stored; "
            "read it back before writing again"
        )
    return None


def translate_error(
    error: BaseException, dialect: Dialect, table: Table | None, *, log: bool = True
) -> RepositoryError | None:
    """The package error for a driver or pool error; None for anything else (a bug to surface).

    A refusal the package has no class for is logged with the driver's message (the
    response says nothing of it); `log=False` where the caller handles it (a replica that
    is behind: the read runs on the primary).
    """
    if isinstance(error, RepositoryError):
        return error
    where = table.name if table is not None else "database"
    if isinstance(error, sa_exc.TimeoutError):
        return DatabaseUnavailableError(
            f"{where}: no pooled connection became free in time", table=_name(table)
        )
    if isinstance(error, TimeoutError):  # a client-side timeout (asyncpg's command_timeout)
        return StatementTimeoutError(
            f"{where}: the database did not answer within the statement timeout",
            table=_name(table),
        )
    if isinstance(error, _CONNECTION_ERRORS):
        return DatabaseUnavailableError(
            f"{where}: the database cannot be reached ({type(error).__name__})", table=_name(table)
        )
    if isinstance(error, sa_exc.StatementError) and not isinstance(error, sa_exc.DBAPIError):
        # SQLAlchemy could not even send the statement: a value failed to convert.
        if isinstance(error.orig, _VALUE_ERRORS):
            return _invalid_value(where, table)
        return None
    if not isinstance(error, sa_exc.DBAPIError):
        # Raised by the driver itself, on a path that bypasses SQLAlchemy (COPY, driver path).
        diagnosis = dialect.diagnose(error)
        if diagnosis is not None:
            return _from_diagnosis(diagnosis, table)
        if dialect.is_driver_error(error):
            if isinstance(error, _VALUE_ERRORS):  # e.g. asyncpg's DataError for an argument
                return _invalid_value(where, table)
            return _refused(where, error, table, log)
        return None
    diagnosis = dialect.diagnose(error.orig) if error.orig is not None else None
    if diagnosis is not None:
        return _from_diagnosis(diagnosis, table)
    if error.connection_invalidated or isinstance(error.orig, _CONNECTION_ERRORS):
        return DatabaseUnavailableError(
            f"{where}: the connection to the database was lost", table=_name(table)
        )
    if isinstance(error, sa_exc.InterfaceError):  # the driver lost its connection state
        return DatabaseUnavailableError(
            f"{where}: the database did not complete the operation", table=_name(table)
        )
    if isinstance(error.orig, _VALUE_ERRORS):
        return _invalid_value(where, table)
    return _refused(where, error.orig, table, log)


@contextlib.contextmanager
def translated_errors(dialect: Dialect, table: Table | None) -> Iterator[None]:
    """Driver errors raised in the block leave it as the package's (see `translate_error`);
    anything else, and the package's own errors, unchanged. For statements run outside a
    repository (the outbox, idempotency keys); repositories translate inline, per call."""
    try:
        yield
    except Exception as error:
        translated = translate_error(error, dialect, table)
        if translated is None or translated is error:
            raise
        raise translated from error


def redacted(message: str) -> str:
    """A driver message fit for a log line: the values it quotes withheld, names kept."""
    first_line = message.strip().splitlines()[0] if message.strip() else ""
    return _LITERALS.sub("<…>", first_line)[:300]


def _refused(
    where: str, driver_error: BaseException | None, table: Table | None, log: bool
) -> RepositoryError:
    kind = type(driver_error).__name__
    # The response says nothing of it (a 500); the log line says what the driver said.
    if log:
        logger.error("%s: the database refused the operation: %s: %s", where, kind,
                     redacted(str(driver_error)))  # fmt: skip
    return RepositoryError(
        f"{where}: the database refused the operation ({kind})", table=_name(table)
    )


def _invalid_value(where: str, table: Table | None) -> RepositoryError:
    return InvalidValueError(f"{where}: a value does not fit its column", table=_name(table))


def _name(table: Table | None) -> str | None:
    return table.name if table is not None else None


def _constraint_columns(table: Table | None, diagnosis: Diagnosis) -> tuple[str, ...]:
    if diagnosis.columns or table is None or diagnosis.constraint is None:
        return diagnosis.columns
    name = diagnosis.constraint
    if name == "PRIMARY" or name == table.primary_key.name:
        return tuple(column.key for column in table.primary_key.columns)
    for constraint in (*table.constraints, *table.indexes):
        if getattr(constraint, "name", None) == name:
            return tuple(column.key for column in getattr(constraint, "columns", ()))
    if name in table.columns:  # MySQL names an unnamed unique key after its first column
        return (name,)
    return ()


_ERROR_BY_FAILURE: dict[Failure, tuple[type[ConflictError | ConstraintViolationError], str]] = {
    Failure.UNIQUE: (UniqueViolationError, "a row with the same {named} already exists"),
    Failure.FOREIGN_KEY: (
        ForeignKeyViolationError,
        "{named} refers to a missing row, or the row is still referenced",
    ),
    Failure.NOT_NULL: (NotNullViolationError, "{named} is required"),
    Failure.CHECK: (CheckViolationError, "the row breaks the check {named}"),
    Failure.INVALID_VALUE: (InvalidValueError, "a value does not fit its column"),
}


def _foreign_key_violation(diagnosis: Diagnosis, table: Table) -> ForeignKeyViolationError:
    """Which side broke the reference, from the table's metadata.

    The database names the constraint (PostgreSQL, MariaDB) or nothing (SQLite). A
    constraint of the table itself means a value refers to a missing row: its columns are
    the fields at fault. One of another table that refers to this one means the row is
    still referenced: no field of the request is at fault (PostgreSQL's detail names the
    referenced key, `id`, which is not). With no name, the table's metadata decides when
    only one reading is possible.
    """
    name = diagnosis.constraint
    own = [c for c in table.foreign_key_constraints if c.name is not None]
    referring = [
        (other, constraint)
        for other in (table.metadata.tables.values() if table.metadata is not None else ())
        for constraint in other.foreign_key_constraints
        if other is not table and constraint.referred_table is table
    ]
    if name is not None:
        own = [constraint for constraint in own if constraint.name == name]
        referring = [(other, c) for other, c in referring if c.name == name]
    elif table.foreign_key_constraints and referring:
        own, referring = [], []  # SQLite names nothing, and either side could have broken
    if len(own) == 1:
        columns = tuple(column.key for column in own[0].columns)
        return ForeignKeyViolationError.missing_target(
            table.name, columns, name or str(own[0].name)
        )
    if len(referring) == 1 or (referring and name is None):
        others = ", ".join(sorted({other.name for other, _ in referring}))
        return ForeignKeyViolationError.still_referenced(table.name, others, name)
    return ForeignKeyViolationError(
        f"{table.name}: a value refers to a missing row, or the row is still referenced",
        table=table.name, constraint=name, columns=diagnosis.columns if name is None else (),
    )  # fmt: skip


def _from_diagnosis(diagnosis: Diagnosis, table: Table | None) -> RepositoryError:
    where = table.name if table is not None else "database"
    if diagnosis.failure is Failure.UNAVAILABLE:
        return DatabaseUnavailableError(
            f"{where}: the database cannot be reached", table=_name(table)
        )
    if diagnosis.failure is Failure.LOGIN_REFUSED:
        return LoginRefusedError(
            f"{where}: the server refused the login or the database name", table=_name(table)
        )
    if diagnosis.failure is Failure.TIMEOUT:
        return StatementTimeoutError(
            f"{where}: the statement ran past the statement timeout and was cancelled",
            table=_name(table),
        )
    if diagnosis.failure is Failure.CONCURRENCY:
        return ConcurrencyError(
            f"{where}: the write collided with a concurrent one; retry it", table=_name(table)
        )
    if diagnosis.failure is Failure.FOREIGN_KEY and table is not None:
        return _foreign_key_violation(diagnosis, table)
    columns = _constraint_columns(table, diagnosis)
    named = ", ".join(columns) or diagnosis.constraint or "a constraint"
    error_type, message = _ERROR_BY_FAILURE[diagnosis.failure]
    return error_type(
        f"{where}: " + message.format(named=named),
        table=_name(table),
        constraint=diagnosis.constraint,
        columns=columns,
    )

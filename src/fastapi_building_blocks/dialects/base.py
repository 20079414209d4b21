"""What the package needs to know about one database dialect.

Every behaviour that differs between databases is a method or attribute here, overridden
by one class per dialect; nothing else in the package asks which database it talks to.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sqlalchemy import DateTime, Table, bindparam
from sqlalchemy.engine import URL
from sqlalchemy.engine import Dialect as SQLAlchemyDialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement, UnaryExpression
from sqlalchemy.sql.expression import Executable
from sqlalchemy.types import TypeEngine

from .driver_path import DriverPath


class Failure(enum.Enum):
    """The kinds of driver error the package turns into its own exceptions."""

    UNIQUE = "unique"
    FOREIGN_KEY = "foreign_key"
    NOT_NULL = "not_null"
    CHECK = "check"
    INVALID_VALUE = "invalid_value"
    CONCURRENCY = "concurrency"
    UNAVAILABLE = "unavailable"
    #: The statement ran past the statement timeout and the server cancelled it.
    TIMEOUT = "timeout"
    #: The server refused the login or the database name: retrying cannot help.
    LOGIN_REFUSED = "login_refused"


@dataclass(frozen=True)
class Diagnosis:
    """A dialect's reading of one driver error: what broke, and where if it says."""

    failure: Failure
    constraint: str | None = None
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Conflict:
    """What an upsert does when a row with the same `columns` exists."""

    columns: Sequence[str]
    #: Columns overwritten with the new values.
    update: Sequence[str]
    #: A column incremented by one (the optimistic-locking version), if any.
    increment: str | None = None


@dataclass(frozen=True)
class EngineOptions:
    """Pool and engine settings, with the package's defaults: the one place they are written.

    `None` means "the dialect's default".
    """

    #: A fixed pool of ten, opened as the load asks and then kept, as HikariCP's defaults
    #: (maximumPoolSize 10, minimumIdle equal to it). SQLAlchemy closes an overflow
    #: connection whenever it comes back to a full pool, so 5 + 10 reopened connections
    #: at every burst: 50 tasks reached 0.80x the throughput of a pool sized to them and
    #: opened 10-12 connections per 2,000 gets; a fixed 10 reached 1.07x and opened none.
    pool_size: int = 10
    max_overflow: int = 0
    pool_timeout: float = 30.0
    pool_recycle: int | None = None
    pool_pre_ping: bool = True
    echo: bool = False
    connect_args: Mapping[str, Any] = field(default_factory=dict)
    #: Longest a statement may run (or wait for a lock) before the database cancels it.
    statement_timeout: float = 30.0

    @property
    def answer_timeout(self) -> float:
        """The client's own bound on any wait for the server (opening a connection, a
        statement's reply, a ping), a second past the server's: it ends the wait when
        the server itself cannot (stopped, frozen, cut off behind an open TCP session)."""
        return self.statement_timeout + 1


#: The defaults, for signatures and settings that offer the same options.
DEFAULT_ENGINE_OPTIONS = EngineOptions()


#: An execution option (see `Dialect.single_statement_options`): the connections of an
#: engine view that carries it run in the driver's autocommit, the others do not.
DRIVER_AUTOCOMMIT = "fastapi_building_blocks_driver_autocommit"


class Dialect:
    """Defaults shared by the dialects; a subclass overrides what its database does otherwise."""

    name: ClassVar[str]
    #: `db.system.name` in OpenTelemetry's semantic conventions.
    system_name: ClassVar[str]
    async_driver: ClassVar[str]
    extra: ClassVar[str]
    #: Execution options that run one statement without BEGIN/COMMIT (it is atomic by
    #: itself). A dialect that begins transactions itself needs none: the session then
    #: just skips its BEGIN. With `DRIVER_AUTOCOMMIT` among them, the session switches the
    #: driver's autocommit through `set_driver_autocommit` at every checkout.
    single_statement_options: ClassVar[Mapping[str, Any] | None] = None
    #: The driver runs in autocommit and the engine emits BEGIN for transactions, so
    #: statements outside one cost no BEGIN/COMMIT round trips.
    begins_transactions_itself: ClassVar[bool] = False
    #: What the engine sends to begin a transaction, where it begins them itself.
    begin_statement: ClassVar[str] = "BEGIN"
    #: A unit of work's BEGIN can wait for its first statement and go to the server with
    #: it, in one write (see `dialects.driver_path.owe_begin`): no round trip of its own.
    pipelines_begin: ClassVar[bool] = False
    #: One writer at a time for the whole database (SQLite's lock): a transaction that
    #: writes holds every other writer off until it ends.
    one_writer: ClassVar[bool] = False
    #: The server's port when the URL names none (`server.port` on spans).
    default_port: ClassVar[int | None] = None
    #: NULL sorts before every value in ascending order (SQLite, MySQL, SQL Server do this;
    #: PostgreSQL does the opposite and is told to with NULLS FIRST / LAST).
    nulls_sort_first: ClassVar[bool] = True
    #: UPDATE ... RETURNING (SQL Server: OUTPUT): an update hands back the row it wrote.
    update_returning: ClassVar[bool] = True
    #: LIMIT / OFFSET is only valid after an ORDER BY (SQL Server's OFFSET ... FETCH).
    paging_needs_order: ClassVar[bool] = False
    #: Datetimes are stored as naive UTC wall time (no time zone type with microseconds).
    stores_naive_utc: ClassVar[bool] = False
    #: The driver reads every stored datetime back as an aware datetime in UTC already
    #: (asyncpg's timestamptz): `UTCDateTime` then needs no result processor.
    reads_utc_datetimes: ClassVar[bool] = False

    # -- replicas (database/replicas.py) ------------------------------------------------

    async def write_position(self, connection: AsyncConnection) -> str | None:
        """On the primary, after a commit: the position in its log that this write ends at.

        None when the dialect has none to compare: reads after a write then stay on the
        primary for a while instead (read-your-writes by time).
        """
        return None

    async def has_replayed(self, connection: AsyncConnection, position: str) -> bool:
        """On a replica: whether it has applied the primary's log up to `position`."""
        return True

    def position_order(self, position: str) -> int | None:
        """A number that grows with the log: a replica known to have applied one position
        has applied every smaller one (None: not comparable without asking)."""
        return None

    async def replica_lag(self, connection: AsyncConnection) -> float | None:
        """On a replica: seconds behind its primary (0 when it has applied all it
        received; infinite when replication has stopped), None when unknown."""
        return None

    def skips_locked_rows(self, dialect: SQLAlchemyDialect) -> bool:
        """Whether `SELECT ... FOR UPDATE SKIP LOCKED` works on the connected server: the
        outbox's relays then claim rows side by side (`outbox.relay`)."""
        return False

    def datetime_type(self) -> TypeEngine[Any]:
        """The column type `UTCDateTime` stores its values in on this database."""
        return DateTime(timezone=True)

    def system_name_of(self, dialect: SQLAlchemyDialect) -> str:
        """`db.system.name` for a connected engine's dialect (a mysql:// URL may be MariaDB)."""
        return self.system_name

    def prepare_url(self, url: URL) -> URL:
        """Complete a URL with the driver and connection options this dialect wants."""
        if "+" not in url.drivername:  # a plain scheme: SQLAlchemy would pick a sync driver
            return url.set(drivername=f"{url.get_backend_name()}+{self.async_driver}")
        return url

    def engine_arguments(self, url: URL, options: EngineOptions) -> dict[str, Any]:
        """Keyword arguments for `create_async_engine`."""
        return {
            "pool_size": options.pool_size,
            "max_overflow": options.max_overflow,
            "pool_timeout": options.pool_timeout,
            "pool_recycle": -1 if options.pool_recycle is None else options.pool_recycle,
            "pool_pre_ping": options.pool_pre_ping,
            "echo": options.echo,
            "connect_args": dict(options.connect_args),
        }

    def on_connect(self, dbapi_connection: Any, options: EngineOptions) -> None:
        """Session settings to apply once to every new DBAPI connection."""

    def ping(self, dbapi_connection: Any) -> bool:
        """Check a pooled connection in one round trip; False leaves it to SQLAlchemy."""
        return False

    def set_driver_autocommit(self, dbapi_connection: Any, autocommit: bool) -> None:
        """Put a connection just checked out in (or out of) the driver's autocommit;
        asked only where `single_statement_options` name `DRIVER_AUTOCOMMIT`."""
        raise NotImplementedError(f"{self.name} has no driver autocommit to switch")

    def needs_reset(self, dbapi_connection: Any, transaction_ended: bool) -> bool:
        """Whether a connection coming back to the pool needs its ROLLBACK.

        `transaction_ended`: the last thing SQLAlchemy did on it was a COMMIT or ROLLBACK.
        By default always, as SQLAlchemy does (asyncpg's adapter makes it free anyway).
        """
        return True

    def order_by(self, column: ColumnElement[Any], descending: bool) -> UnaryExpression[Any]:
        """An ORDER BY term on which NULL is the smallest value, as on most databases."""
        term = column.desc() if descending else column.asc()
        if self.nulls_sort_first or not _is_nullable(column):
            return term
        return term.nulls_last() if descending else term.nulls_first()

    def upsert(self, table: Table, values: Mapping[str, Any], conflict: Conflict) -> Executable:
        """An INSERT that updates the row whose `conflict.columns` match instead of failing."""
        raise NotImplementedError(f"upsert is not supported on {self.name}")

    def insert_new(self, table: Table, dialect: SQLAlchemyDialect) -> Executable | None:
        """An INSERT of many rows that skips each row whose primary key `table` holds
        already (or another transaction is inserting: it waits for that one's outcome)
        and returns the key of each row it did insert; None where the database has no
        such statement (MySQL's INSERT IGNORE would silence every other error too).

        The outbox's inbox records deliveries with it: a check that rests on the key's
        index alone, whatever the planner makes of a young table's statistics.
        """
        return None

    def in_list(self, column: ColumnElement[Any], name: str) -> ColumnElement[bool]:
        """`column IN (...)` of a list given as the parameter `name`, for statements built
        once and run with lists of any length."""
        return column.in_(bindparam(name, expanding=True))

    async def bulk_insert(
        self, connection: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]
    ) -> bool:
        """Load `rows` faster than executemany if this database can; False if it did not.

        The rows are the repository's own: a dialect may convert their values in place.
        """
        return False

    async def insert_and_commit(
        self, connection: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]]
    ) -> bool:
        """Insert `rows` and commit the connection's transaction in one round trip, where
        the driver can send both at once; False if nothing was sent (the caller then
        inserts and commits as usual). A unit of work's outbox rows go this way."""
        return False

    async def begin_on_driver(self, connection: AsyncConnection) -> None:
        """Make the driver's own connection be inside the SQLAlchemy transaction begun on it.

        Where the engine sends BEGIN itself (SQLite, MySQL) it already is.
        """

    def driver_path(self, dialect: SQLAlchemyDialect) -> DriverPath | None:
        """Hot statements straight through the driver, where that is much faster (PostgreSQL)."""
        return None

    def diagnose(self, error: BaseException) -> Diagnosis | None:
        """Read a driver error; None when it is none of the kinds the package translates."""
        return None

    def is_driver_error(self, error: BaseException) -> bool:
        """True for the driver's own errors, raised on a path that bypasses SQLAlchemy."""
        return False


def _is_nullable(column: ColumnElement[Any]) -> bool:
    return bool(getattr(column, "nullable", True))


def quoted_names(text: str) -> tuple[str, ...]:
    """The names inside a "(a, b)" or "(`a`, `b`)" list as drivers print them."""
    return tuple(name.strip(' `"[]') for name in text.split(",") if name.strip())


def first_match(pattern: str, text: str) -> str | None:
    found = re.search(pattern, text)
    return found.group(1) if found else None


def on_conflict_skip(statement: Any, table: Table) -> Any:
    """`INSERT ... ON CONFLICT DO NOTHING RETURNING <key>`, as PostgreSQL and SQLite spell it."""
    return statement.on_conflict_do_nothing().returning(*table.primary_key.columns)


def on_conflict_upsert(statement: Any, table: Table, conflict: Conflict) -> Any:
    """`INSERT ... ON CONFLICT (...) DO UPDATE`, as PostgreSQL and SQLite spell it."""
    updates: dict[str, Any] = {name: statement.excluded[name] for name in conflict.update}
    if conflict.increment:
        updates[conflict.increment] = table.c[conflict.increment] + 1
    if not updates:
        return statement.on_conflict_do_nothing(index_elements=list(conflict.columns))
    return statement.on_conflict_do_update(index_elements=list(conflict.columns), set_=updates)

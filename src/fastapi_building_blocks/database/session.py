"""The database session: one `AsyncEngine` built from a URL, its pool and its lifecycle.

    async with SQLAlchemySession("postgresql+asyncpg://app:secret@db/app") as database:
        users = UserRepository(database)

The URL decides everything dialect-specific (see `fastapi_building_blocks.dialects`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, Self, TypeVar

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool, PoolResetState, StaticPool

from ..dialects import (
    DEFAULT_ENGINE_OPTIONS,
    DRIVER_AUTOCOMMIT,
    Dialect,
    EngineOptions,
    dialect_named,
)
from ..dialects.driver_path import BEGIN_OWED, DriverPath
from ..errors import ConfigurationError, DatabaseUnavailableError, LoginRefusedError
from .executor import CORE, DriverExecutor, Executor, TransactionalExecutor
from .kept import KeptConnections
from .replicas import MAX_LAG_SECONDS, Replica, ReplicaSet, Strategy
from .translate import translate_error

logger = logging.getLogger("fastapi_building_blocks.database")
T = TypeVar("T")

#: Where a pooled connection remembers when it was last returned (its record's `info`).
_RETURNED_AT = "fastapi_building_blocks.returned_at"
_TRANSACTION_ENDED = "fastapi_building_blocks.transaction_ended"
#: Execution option that tells the engine's `begin` listener to emit no BEGIN.
_SKIP_BEGIN = "fastapi_building_blocks_skip_begin"
#: How long `connect()` waits for a database that is starting up.
CONNECT_TIMEOUT_SECONDS = 60.0
CONNECT_FIRST_BACKOFF_SECONDS = 0.25
CONNECT_MAX_BACKOFF_SECONDS = 5.0
#: How long a health check waits for the database's answer.
PING_TIMEOUT_SECONDS = 2.0


class DatabaseSession(ABC):
    """What a repository needs: connections to run statements on, and the dialect."""

    dialect: Dialect
    #: `statement()` commits its statement by itself, and `transaction()` commits on
    #: exit: a lost reply there leaves the outcome unknown (False in a unit of work,
    #: whose own COMMIT is where that happens).
    commits_its_writes: bool = True

    @property
    @abstractmethod
    def system_name(self) -> str:
        """`db.system.name` of the semantic conventions: "postgresql", "mariadb", ..."""

    @property
    @abstractmethod
    def database_name(self) -> str | None:
        """`db.namespace`: the database the session talks to."""

    @property
    @abstractmethod
    def pool_name(self) -> str:
        """`db.client.connection.pool.name`: the URL with its password masked."""

    @property
    def executor(self) -> Executor:
        """How statements run on this session's connections: the one place that decides
        between the driver and SQLAlchemy (see `database.executor`)."""
        return CORE

    @property
    def server(self) -> tuple[str | None, int | None]:
        """`server.address` and `server.port` of the primary (None where there is none)."""
        return None, None

    async def read(
        self, run: Callable[[AsyncConnection], Awaitable[T]], *, on_primary: bool = False
    ) -> T:
        """`run` on a connection for reads. The one way a repository reads: a session
        with replicas picks the server (the primary if `on_primary`: a locking read), and
        runs it again elsewhere if a replica goes."""
        async with self.connection() as connection:
            return await run(connection)

    @abstractmethod
    def connection(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection for reads; nothing done on it is committed."""

    @abstractmethod
    def statement(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection for exactly one write statement, atomic and committed by itself."""

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection in a transaction, committed on normal exit, rolled back on error."""


def mask_url(url: URL | str) -> str:
    """The URL as safe to log: the password replaced by ***; unparseable text withheld."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return "<unparseable database URL>"


def _parse_url(url: URL | str) -> URL:
    try:
        return make_url(url)
    except sa_exc.ArgumentError:
        raise ConfigurationError(
            "the database URL cannot be parsed; expected e.g. "
            "postgresql+asyncpg://user:password@host:5432/name"
        ) from None


_DEFAULTS = DEFAULT_ENGINE_OPTIONS


class SQLAlchemySession(DatabaseSession):
    """Owns one `AsyncEngine`: pool (ten connections, pre-ping), tuning, connect, dispose.

    Pre-ping checks a connection in one round trip when it leaves the pool, unless it was
    returned less than `ping_after_idle_seconds` ago. Every statement is bounded by
    `statement_timeout` seconds, enforced by the database itself (see the dialects).
    `use_driver_path=False` sends every statement through SQLAlchemy's execute.
    """

    def __init__(
        self,
        url: URL | str,
        *,
        pool_size: int = _DEFAULTS.pool_size,
        max_overflow: int = _DEFAULTS.max_overflow,
        pool_timeout: float = _DEFAULTS.pool_timeout,
        pool_recycle: int | None = _DEFAULTS.pool_recycle,
        pool_pre_ping: bool = _DEFAULTS.pool_pre_ping,
        ping_after_idle_seconds: float = 0.5,
        echo: bool = _DEFAULTS.echo,
        connect_args: Mapping[str, Any] | None = None,
        statement_timeout: float = _DEFAULTS.statement_timeout,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        ping_timeout: float = PING_TIMEOUT_SECONDS,
        use_driver_path: bool = True,
        replica_urls: Sequence[URL | str] = (),
        max_replica_lag: float = MAX_LAG_SECONDS,
        replica_strategy: Strategy = "round_robin",
    ) -> None:
        parsed = _parse_url(url)
        self.dialect = dialect_named(parsed.get_backend_name())
        self.url = self.dialect.prepare_url(parsed)
        driver = self.url.get_driver_name()
        if driver != self.dialect.async_driver:
            raise ConfigurationError(
                f"{self.dialect.name} is supported through {self.dialect.async_driver}, "
                f"not {driver!r}: use {self.url.get_backend_name()}+{self.dialect.async_driver}://"
            )
        options = EngineOptions(
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            pool_recycle=pool_recycle,
            pool_pre_ping=pool_pre_ping and not self._has_own_ping(),
            echo=echo,
            connect_args=connect_args or {},
            statement_timeout=statement_timeout,
        )
        self.options = options
        try:
            arguments = self.dialect.engine_arguments(self.url, options)
            self.engine: AsyncEngine = create_async_engine(
                self.url,
                pool_reset_on_return=None,  # the session's own reset (_install_tuning)
                **arguments,
            )
        except ModuleNotFoundError as missing:
            raise ConfigurationError(
                f"{self.dialect.name} needs the driver {self.dialect.async_driver} "
                f"({missing.name} is not installed): "
                f"pip install 'fastapi-building-blocks[{self.dialect.extra}]'"
            ) from None
        self._ping_engine = self._pinging_engine(arguments)
        self._install_tuning(
            ping=pool_pre_ping and self._has_own_ping(), idle_seconds=ping_after_idle_seconds
        )
        # One engine view for single statements, built once: switching options per call
        # would cost a greenlet hop. It shares the engine's pool.
        single = (
            {_SKIP_BEGIN: True}
            if self.dialect.begins_transactions_itself
            else self.dialect.single_statement_options
        )
        self._single_statement_engine = (
            self.engine.execution_options(**single) if single is not None else None
        )
        # Only the driver path leaves a connection as clean as the pool gives it out
        # (SQLAlchemy's statements autobegin): without it there is nothing to keep.
        self._kept = (
            KeptConnections(self._single_statement_engine, ping_after_idle_seconds, max_overflow)
            if self._single_statement_engine is not None and use_driver_path
            else None
        )
        self._pool_name = mask_url(self.url)
        self._driver_path = (
            self.dialect.driver_path(self.engine.dialect) if use_driver_path else None
        )
        self._driver_executor = (
            DriverExecutor(self._driver_path) if self._driver_path is not None else None
        )
        self._transaction_executor = (
            TransactionalExecutor(self._driver_executor, self.dialect)
            if self._driver_executor is not None
            else None
        )
        #: Callers waiting for a pooled connection right now.
        self.pending_requests = 0
        self.connect_timeout = connect_timeout
        self.ping_timeout = ping_timeout
        replicas = [
            SQLAlchemySession(
                replica, pool_size=pool_size, max_overflow=max_overflow,
                pool_timeout=pool_timeout, pool_recycle=pool_recycle,
                pool_pre_ping=pool_pre_ping, ping_after_idle_seconds=ping_after_idle_seconds,
                echo=echo, connect_args=connect_args, statement_timeout=statement_timeout,
                connect_timeout=connect_timeout, ping_timeout=ping_timeout,
                use_driver_path=use_driver_path,
            )
            for replica in replica_urls
        ]  # fmt: skip
        #: Where reads outside a unit of work go when the database has replicas.
        self.replica_set = (
            ReplicaSet.of(self, replicas, max_replica_lag, replica_strategy) if replicas else None
        )
        self._server = (self.url.host, self.url.port or self.dialect.default_port)
        # Decided once: without replicas a write's checkout awaits nothing extra.
        self._after_write = self.replica_set.remember_write if self.replica_set else None

    def _pinging_engine(self, arguments: dict[str, Any]) -> AsyncEngine:
        """An engine without a pool for `ping`: a health check never queues behind requests.

        Where the pool is one shared connection (an in-memory SQLite database), another
        engine would see another database: the ping takes the shared one.
        """
        if isinstance(self.engine.sync_engine.pool, StaticPool):
            return self.engine
        pool_options = (
            "pool_size",
            "max_overflow",
            "pool_timeout",
            "pool_recycle",
            "pool_pre_ping",
        )
        unpooled = {name: value for name, value in arguments.items() if name not in pool_options}
        return create_async_engine(self.url, poolclass=NullPool, **unpooled)

    def _has_own_ping(self) -> bool:
        return type(self.dialect).ping is not Dialect.ping

    def _install_tuning(self, *, ping: bool, idle_seconds: float) -> None:
        dialect = self.dialect
        sync_engine = self.engine.sync_engine

        options = self.options

        @event.listens_for(sync_engine, "connect")
        def tune(dbapi_connection: Any, _record: Any) -> None:
            dialect.on_connect(dbapi_connection, options)

        if DRIVER_AUTOCOMMIT in (dialect.single_statement_options or {}):
            # Every checkout says which it is, so none inherits the last one's mode.

            @event.listens_for(sync_engine, "engine_connect")
            def autocommit(connection: Connection) -> None:
                dialect.set_driver_autocommit(
                    connection.connection.dbapi_connection,
                    bool(connection.get_execution_options().get(DRIVER_AUTOCOMMIT)),
                )

        if ping:  # pessimistic disconnect handling, as SQLAlchemy documents it
            # A connection returned moments ago is not pinged again (HikariCP does the
            # same, with a 500 ms window): under load the ping would double the round
            # trips of every single-row call. A connection that died inside the window
            # fails its statement with DatabaseUnavailableError and leaves the pool.

            @event.listens_for(sync_engine, "checkin")
            def returned(_dbapi_connection: Any, record: Any) -> None:
                if record is not None:
                    record.info[_RETURNED_AT] = time.monotonic()

            @event.listens_for(sync_engine, "checkout")
            def check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
                returned_at = record.info.get(_RETURNED_AT)
                if returned_at is not None and time.monotonic() - returned_at < idle_seconds:
                    return
                try:
                    dialect.ping(dbapi_connection)
                except Exception as error:
                    raise sa_exc.DisconnectionError(str(error)) from error

        # The pool's reset on return, as SQLAlchemy documents it for a custom reset:
        # its own sends ROLLBACK even right after a COMMIT, a round trip per write on
        # MySQL and a thread hop per checkout on SQLite. The dialect says when it is due.

        @event.listens_for(sync_engine, "checkout")
        def checked_out(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
            record.info[_TRANSACTION_ENDED] = False
            record.info.pop(BEGIN_OWED, None)  # a BEGIN owed by a previous checkout is void

        def mark(connection: Connection, ended: bool) -> None:
            if not connection.invalidated:  # its DBAPI connection is gone, and so is this
                info = connection.connection.info
                info[_TRANSACTION_ENDED] = ended
                if ended:
                    info.pop(BEGIN_OWED, None)  # nothing ran: nothing began on the server

        @event.listens_for(sync_engine, "begin")
        def transaction_began(connection: Connection) -> None:
            mark(connection, ended=False)

        @event.listens_for(sync_engine, "commit")
        @event.listens_for(sync_engine, "rollback")
        def transaction_ending(connection: Connection) -> None:
            mark(connection, ended=True)

        @event.listens_for(sync_engine, "reset")
        def reset(dbapi_connection: Any, record: Any, state: PoolResetState) -> None:
            if state.transaction_was_reset or state.terminate_only or not state.asyncio_safe:
                return  # already reset, about to be closed, or no I/O allowed here
            ended = bool(record.info.get(_TRANSACTION_ENDED)) if record is not None else False
            if dialect.needs_reset(dbapi_connection, ended):
                dbapi_connection.rollback()

        if dialect.begins_transactions_itself:
            begin_statement = dialect.begin_statement

            @event.listens_for(sync_engine, "begin")
            def begin(connection: Connection) -> None:
                if connection.get_execution_options().get(_SKIP_BEGIN):
                    return
                if not connection.info.get(BEGIN_OWED):  # else the next statement sends it
                    connection.exec_driver_sql(begin_statement)

    def __repr__(self) -> str:
        return f"SQLAlchemySession({mask_url(self.url)!r})"

    @property
    def database_name(self) -> str | None:
        return self.url.database

    @property
    def pool_name(self) -> str:
        return self._pool_name

    @property
    def server(self) -> tuple[str | None, int | None]:
        return self._server

    async def read(
        self, run: Callable[[AsyncConnection], Awaitable[T]], *, on_primary: bool = False
    ) -> T:
        if self.replica_set is not None and not on_primary:
            return await self.replica_set.read(run)
        async with self._primary_read() as connection:
            return await run(connection)

    @property
    def system_name(self) -> str:
        return self.dialect.system_name_of(self.engine.dialect)

    @property
    def executor(self) -> Executor:
        # Anything watching SQLAlchemy's statements (the OpenTelemetry instrumentation,
        # echo) would miss those sent straight to the driver: then every statement takes
        # SQLAlchemy's path. Checked per call, so instrumenting later is honoured.
        executor = self._driver_executor
        if executor is None:
            return CORE
        engine = self.engine.sync_engine  # AsyncEngine's own echo is a proxy: 0.4 us more
        dispatch = engine.dispatch
        if (
            engine.echo
            or dispatch.before_cursor_execute
            or dispatch.after_cursor_execute
            or dispatch.before_execute
            or dispatch.after_execute
        ):
            return CORE
        return executor

    @property
    def executor_in_transaction(self) -> Executor:
        """`executor`, for statements inside a unit of work's transaction."""
        if self.executor is CORE or self._transaction_executor is None:
            return CORE
        return self._transaction_executor

    @property
    def driver_path(self) -> DriverPath | None:
        """The driver path statements take now, if any (see `executor`)."""
        return self._driver_path if self.executor is not CORE else None

    # -- lifecycle --------------------------------------------------------------------

    async def connect(self) -> None:
        """Wait until the database answers, retrying with backoff for `connect_timeout` seconds.

        A database that is still starting (a container coming up beside the service) gets
        that long; a refused login or an unknown database is a ConfigurationError at once,
        since waiting cannot fix it.
        """
        deadline = time.monotonic() + self.connect_timeout
        delay = CONNECT_FIRST_BACKOFF_SECONDS
        attempt = 0
        while True:
            attempt += 1
            try:
                await self.ping()
            except LoginRefusedError as refused:
                raise ConfigurationError(f"{mask_url(self.url)}: {refused}") from refused
            except DatabaseUnavailableError:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise
                logger.warning(
                    "database %s not reachable (attempt %d, %.0fs left); retrying in %.1fs",
                    mask_url(self.url), attempt, remaining, min(delay, remaining),
                )  # fmt: skip
                await asyncio.sleep(min(delay, remaining))
                delay = min(delay * 2, CONNECT_MAX_BACKOFF_SECONDS)
            else:
                logger.info("connected to %s", mask_url(self.url))
                await self._connect_replicas()
                return

    async def _connect_replicas(self) -> None:
        """A replica that does not answer now gets no reads until it does: the primary
        serves them meanwhile, so it does not stop the start."""
        for replica in self.replica_set.replicas if self.replica_set else ():
            try:
                await replica.session.ping()
            except DatabaseUnavailableError as error:
                replica.failed(error)

    async def disconnect(self) -> None:
        """Close every pooled connection; the session can connect again later."""
        for replica in self.replica_set.replicas if self.replica_set else ():
            await replica.stop()
        if self._kept is not None:
            await self._kept.release()
        await self.engine.dispose()
        if self._ping_engine is not self.engine:
            await self._ping_engine.dispose()
        logger.info("disconnected from %s", mask_url(self.url))

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.disconnect()

    async def ping(self) -> None:
        """Round-trip to the database within `ping_timeout`, or DatabaseUnavailableError.

        On a connection of its own, not a pooled one: a saturated pool does not make the
        database look down, nor the health check wait for it.
        """
        try:
            async with asyncio.timeout(self.ping_timeout):
                engine = self._ping_engine
                if self.dialect.begins_transactions_itself:  # one statement, no BEGIN
                    engine = engine.execution_options(**{_SKIP_BEGIN: True})
                async with engine.connect() as connection:
                    await connection.exec_driver_sql("SELECT 1")
        except TimeoutError as error:
            raise DatabaseUnavailableError(
                f"database: no answer within {self.ping_timeout:g}s"
            ) from error
        except Exception as error:
            translated = translate_error(error, self.dialect, None)
            if translated is None:
                raise
            if not isinstance(translated, DatabaseUnavailableError):
                translated = DatabaseUnavailableError(str(translated))
            raise translated from error

    # -- connections ------------------------------------------------------------------

    def connection(self) -> AbstractAsyncContextManager[AsyncConnection]:
        if self.replica_set is not None:
            return _ReplicaRead(self.replica_set)
        return self._primary_read()

    def _primary_read(self) -> _Checkout:
        engine = self._single_statement_engine or self.engine  # no kept ones without it
        return _Checkout(self, engine, begin=False, kept=self._kept)

    def statement(self) -> AbstractAsyncContextManager[AsyncConnection]:
        if self._single_statement_engine is None:
            return _Checkout(self, self.engine, begin=True, written=self._after_write)
        return _Checkout(self, self._single_statement_engine, begin=False,
                         written=self._after_write, kept=self._kept)  # fmt: skip

    def transaction(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return _Checkout(self, self.engine, begin=True, written=self._after_write)

    async def remember_write(self, connection: AsyncConnection) -> None:
        """After a committed write: what reads in this context wait for on a replica."""
        if self.replica_set is not None:
            await self.replica_set.remember_write(connection)

    @property
    def kept_connections(self) -> int:
        """Connections kept checked out for the next single-statement call (`database.kept`):
        out of the pool, yet idle."""
        return len(self._kept) if self._kept is not None else 0

    async def checkout(self) -> AsyncConnection:
        """A connection to hold across several statements (a unit of work's); close it after."""
        return await self._from_pool(self.engine)

    async def _from_pool(self, engine: AsyncEngine) -> AsyncConnection:
        """A connection from the pool, counted in `pending_requests` while it waits. With
        the pool empty, a kept connection goes back to it first (`KeptConnections`)."""
        if self._kept is not None:
            await self._kept.make_room()
        self.pending_requests += 1
        try:
            return await engine.connect()
        finally:
            self.pending_requests -= 1


async def begin_or_release(connection: AsyncConnection, dialect: Dialect) -> None:
    """BEGIN on a connection just checked out, on the driver as well as in SQLAlchemy; if
    BEGIN fails (SQLite's write lock not free in time, a connection that died) the
    connection goes back to the pool, or it would be lost to it."""
    try:
        await connection.begin()
        await dialect.begin_on_driver(connection)
    except BaseException:
        await connection.close()
        raise


class _Checkout:
    """A pooled connection for one call, optionally in a transaction committed on success.

    Written out rather than `engine.connect()` / `engine.begin()` as context managers:
    SQLAlchemy's close on exit runs in a task of its own, shielded, which costs two more
    event-loop turns than the statement itself on every single-row call. Here the close
    is awaited in place. A cancellation that arrives while the pool resets the connection
    makes SQLAlchemy invalidate it (it never goes back to the pool half reset), and
    nothing carries on in the background.

    It also counts the callers still waiting for a pooled connection (`pending_requests`):
    SQLAlchemy's pool keeps no public count of its waiters, and the semantic conventions'
    `db.client.connection.pending_requests` needs one. A single-statement call (`kept`)
    takes the connection the last one kept and leaves its own (`database.kept`).
    """

    __slots__ = ("_begin", "_connection", "_engine", "_kept", "_session", "_since", "_written")

    def __init__(
        self,
        session: SQLAlchemySession,
        engine: AsyncEngine,
        *,
        begin: bool,
        written: Callable[[AsyncConnection], Awaitable[None]] | None = None,
        kept: KeptConnections | None = None,
    ) -> None:
        self._session = session
        self._engine = engine
        self._begin = begin
        self._written = written
        self._kept = kept  # a single-statement call: takes and leaves a kept connection
        self._connection: AsyncConnection | None = None
        self._since = 0.0

    async def __aenter__(self) -> AsyncConnection:
        session = self._session
        taken = await self._kept.take() if self._kept is not None else None
        if taken is not None:
            self._connection, self._since = taken
            return self._connection
        connection = await session._from_pool(self._engine)
        self._since = time.monotonic()
        if self._begin:
            await begin_or_release(connection, session.dialect)
        self._connection = connection
        return connection

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        connection = self._connection
        assert connection is not None
        self._connection = None
        try:
            if exc_type is None and self._begin and connection.in_transaction():
                await connection.commit()
            if exc_type is None and self._written is not None:
                await self._written(connection)
        except BaseException:
            await connection.close()  # rolls back whatever is still open
            raise
        if exc_type is not None:
            await connection.close()
            return
        try:
            if self._kept is not None:
                await self._kept.keep(connection, self._since)
            else:
                await connection.close()
        except Exception:
            # The work is done (read, or committed): a connection lost while it goes
            # back must not report it failed. SQLAlchemy's pool resets or discards it.
            logger.warning("a connection failed on its way back to the pool", exc_info=True)


class _ReplicaRead:
    """`connection()` of a session with replicas: a replica that may serve this
    context's read, else the primary (see `ReplicaSet.checkout`)."""

    __slots__ = ("_inner", "_replica", "_replicas")

    def __init__(self, replicas: ReplicaSet) -> None:
        self._replicas = replicas
        self._inner: _Checkout | None = None
        self._replica: Replica | None = None

    async def __aenter__(self) -> AsyncConnection:
        self._inner, self._replica, connection = await self._replicas.checkout()
        return connection

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._inner is not None
        if self._replica is not None:
            self._replica.in_flight -= 1
        await self._inner.__aexit__(exc_type, exc, traceback)

"""One transaction across repositories.

    async with UnitOfWork(database) as uow:
        users, posts = UserRepository(uow), PostRepository(uow)
        user = await users.create(user)
        await posts.create(welcome_post(user))
        uow.after_commit(lambda: publish(UserRegistered(user.id)))
        await uow.commit()

Nothing is committed until `commit()`; leaving the block without it, or with an
exception, rolls back. Callbacks registered with `after_commit` run only after a
successful commit. The same semantics hold for `InMemoryUnitOfWork`.
"""

from __future__ import annotations

import inspect
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, ExitStack, asynccontextmanager
from types import TracebackType
from typing import Any, Self, TypeVar

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from .database import DatabaseSession, SQLAlchemySession, translate_error
from .database.executor import Executor
from .database.session import begin_or_release
from .database.translate import lost_outcome, translated_errors
from .errors import UnitOfWorkError
from .operations import Operation, observing
from .outbox.messages import OUTBOX, Event
from .outbox.rows import insert_statement, outbox_row
from .repository.memory import InMemoryDatabase, Undo

logger = logging.getLogger("fastapi_building_blocks.unit_of_work")

Callback = Callable[[], Awaitable[None] | None]
T = TypeVar("T")


class _Lifecycle:
    """What both units of work share: the failure rule and after-commit callbacks."""

    def __init__(self) -> None:
        self._callbacks: list[Callback] = []
        self._failure: BaseException | None = None

    def after_commit(self, callback: Callback) -> None:
        """Run `callback` (sync or async) once the next commit has succeeded."""
        self._callbacks.append(callback)

    def fail(self, error: BaseException) -> None:
        self._failure = error

    def check_usable(self) -> None:
        if self._failure is not None:
            raise UnitOfWorkError(
                f"an operation in this unit of work failed ({type(self._failure).__name__}): "
                "roll back before going on"
            ) from self._failure

    async def _run_callbacks(self) -> None:
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                outcome = callback()
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:  # the commit stands; a failing listener must not undo it
                logger.exception("after-commit callback %r failed", callback)

    def _forget(self) -> None:
        self._callbacks.clear()
        self._failure = None


class UnitOfWork(_Lifecycle, DatabaseSession):
    """One transaction of a `SQLAlchemySession` at a time, shared by repositories.

    It is itself a `DatabaseSession`: a repository takes either, as cosmicpython's
    repositories take their unit of work's session.

    A repository given a unit of work (`UserRepository(uow)`) runs every statement inside
    it. After a failed statement the unit of work must be rolled back, on every backend
    alike (PostgreSQL insists; the others are held to the same rule).

    It holds a pooled connection only while a transaction is open: taken at the first
    statement, given back at commit and at rollback. So a request that opens a unit of
    work can still take a connection of its own before its first statement and after
    its commit (an idempotency key's claim and release do) without ever holding two: a
    request that holds one while waiting for another deadlocks once every request in
    flight does the same, until the pool's timeout.
    """

    #: Its statements commit at its own COMMIT (see `_committing`), not one by one.
    commits_its_writes = False

    def __init__(self, session: SQLAlchemySession) -> None:
        super().__init__()
        self.session = session
        self.dialect = session.dialect
        self._connection: AsyncConnection | None = None
        #: The session's executor, chosen once per checkout (see `executor`).
        self._executor: Executor | None = None
        self._entered = False
        self._observation = ExitStack()
        #: Published events' rows not sent yet: they go with the next statement, or with
        #: the COMMIT where the driver can send both at once.
        self._unsent: list[tuple[Table, dict[str, Any]]] = []

    @property
    def system_name(self) -> str:
        return self.session.system_name

    @property
    def database_name(self) -> str | None:
        return self.session.database_name

    @property
    def pool_name(self) -> str:
        return self.session.pool_name

    @property
    def executor(self) -> Executor:
        """The session's choice, run inside this unit of work's transaction.

        Chosen once per checkout, not per statement: instrumentation switched on while a
        transaction is open applies from the next one.
        """
        executor = self._executor
        if executor is None:
            executor = self._executor = self.session.executor_in_transaction
        return executor

    @property
    def server(self) -> tuple[str | None, int | None]:
        return self.session.server

    async def __aenter__(self) -> Self:
        operation = Operation(
            "transaction", None, self.system_name, self.database_name, self.pool_name,
            self.server,
        )  # fmt: skip
        self._observation.enter_context(observing(operation, encloses_operations=True))
        self._entered = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            await self._give_back()
        finally:
            self._entered = False
            self._forget()
            self._observation.__exit__(exc_type, exc, traceback)

    def _require_entered(self) -> None:
        if not self._entered:
            raise UnitOfWorkError("use the unit of work inside `async with`")

    async def _held(self) -> AsyncConnection:
        """The open transaction's connection; the first statement takes it from the pool."""
        if self._connection is not None:
            return self._connection
        try:
            connection = await self.session.checkout()
            if not self.dialect.pipelines_begin:  # there the first statement begins
                # Begun here, on the driver too, so that no statement checks again.
                await begin_or_release(connection, self.dialect)
        except Exception as error:
            raise (translate_error(error, self.dialect, None) or error) from error
        self._connection = connection
        return connection

    async def _give_back(self) -> None:
        """Roll back whatever is open and return the connection to the pool. Detached
        first: a cancelled request's exit running meanwhile finds nothing to close."""
        connection, self._connection = self._connection, None
        self._executor = None
        if connection is None:
            return
        try:
            await _roll_back_quietly(connection)
        finally:
            try:
                await connection.close()
            except Exception:  # a dead connection: the pool discards it either way
                logger.warning("closing the unit of work's connection failed", exc_info=True)

    async def commit(self) -> None:
        """Commit everything so far, then run the after-commit callbacks.

        The next statement begins the next transaction (not this method), on a connection
        it takes from the pool then: a commit costs no extra BEGIN, cannot fail after the
        server stored the data, and leaves SQLite's write lock and the pooled connection
        free while the callbacks run. A connection lost while COMMIT was under
        way is a CommitOutcomeUnknownError: the data may or may not be stored.
        """
        self._require_entered()
        self.check_usable()
        if self._unsent or self._connection is not None:
            connection = await self._held()
            committed = bool(self._unsent) and await self._commit_with_unsent(connection)
            if not committed and connection.in_transaction():
                await self._committing(connection.commit(), None)
                committed = True
            if committed:
                await self.session.remember_write(connection)  # never raises
            await self._give_back()
        await self._run_callbacks()

    async def _commit_with_unsent(self, connection: AsyncConnection) -> bool:
        """The unsent outbox rows and the COMMIT in one round trip where the dialect can;
        otherwise the rows are sent as the next statement and False says "now commit"."""
        table = self._unsent[0][0]
        if all(unsent_table is table for unsent_table, _ in self._unsent):
            rows = [row for _, row in self._unsent]
            step = self.dialect.insert_and_commit(connection, table, rows)
            if await self._committing(step, table):
                self._unsent.clear()
                return True
        await self._connection_for_statement()  # sends the rows
        return False

    async def _committing(self, step: Awaitable[T], table: Table | None) -> T:
        try:
            return await step
        except Exception as error:
            self.fail(error)
            translated = translate_error(error, self.dialect, table) or error
            lost = lost_outcome(error, translated, "the unit of work's COMMIT")
            raise (lost or translated) from error

    async def publish(self, event: Event, *, outbox: Table = OUTBOX) -> None:
        """Write `event` to the outbox in this unit of work's transaction: it is committed
        with the change it describes, or not at all (see `fastapi_building_blocks.outbox`).

        The row is sent with the unit of work's next statement, or with its COMMIT where
        the driver can send both in one message (PostgreSQL): an event published last,
        as most are, costs no round trip of its own. A savepoint rolled back drops the
        events published inside it.
        """
        self._require_entered()
        self.check_usable()
        self._unsent.append((outbox, outbox_row(event)))

    async def _send_unsent(self, connection: AsyncConnection) -> None:
        unsent, self._unsent = self._unsent, []
        for table, group in itertools.groupby(unsent, key=lambda pair: pair[0]):
            rows = [row for _, row in group]
            statement = insert_statement(self.executor, self.dialect.name, table)
            with translated_errors(self.dialect, table):  # as a repository's write would
                if len(rows) == 1:
                    await statement.write(connection, rows[0])
                else:
                    await statement.write_many(connection, rows)

    async def rollback(self) -> None:
        """Undo everything since the last commit; the unit of work can be used again (on
        a connection of the pool's: one that died meanwhile is discarded)."""
        self._require_entered()
        await self._give_back()
        self._forget()

    def _forget(self) -> None:
        super()._forget()
        self._unsent.clear()

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A nested transaction: an error inside undoes only the work inside."""
        async with _InUse(self) as connection:  # sends what came before
            nested = await connection.begin_nested()
        try:
            yield
        except BaseException as error:
            self._unsent.clear()  # all published inside: what came before was sent
            try:
                await nested.rollback()
            except Exception:
                # The savepoint is gone with its connection: the caller still hears its
                # own error, and the unit of work stays failed.
                logger.warning("rolling back to a savepoint failed", exc_info=True)
                self.fail(error)
                raise error from None
            self._failure = None  # the failure was undone with the savepoint
            raise
        await nested.commit()

    # -- DatabaseSession: every statement runs on the one connection ---------------------

    async def _connection_for_statement(self) -> AsyncConnection:
        """The transaction's connection, with the unsent outbox rows sent first."""
        self._require_entered()
        self.check_usable()
        connection = self._connection
        if connection is None:
            connection = await self._held()
        if self._unsent:
            try:
                await self._send_unsent(connection)
            except Exception as error:
                self.fail(error)
                raise
        return connection

    async def read(
        self, run: Callable[[AsyncConnection], Awaitable[T]], *, on_primary: bool = False
    ) -> T:
        """`run` on the transaction's connection (the primary's: replicas lag behind it)."""
        connection = await self._connection_for_statement()
        try:
            return await run(connection)
        except Exception as error:
            self.fail(error)
            raise

    def connection(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return _InUse(self)

    def statement(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return _InUse(self)

    def transaction(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return _InUse(self)


class _InUse:
    """The unit of work's connection for one statement; a failure inside fails the unit of
    work. A class rather than a generator-based context manager: it runs on every call."""

    __slots__ = ("_unit_of_work",)

    def __init__(self, unit_of_work: UnitOfWork) -> None:
        self._unit_of_work = unit_of_work

    async def __aenter__(self) -> AsyncConnection:
        return await self._unit_of_work._connection_for_statement()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if isinstance(exc, Exception):
            self._unit_of_work.fail(exc)


async def _roll_back_quietly(connection: AsyncConnection) -> None:
    """Roll back whatever is open; a failure here must not replace the caller's error.

    A rollback fails when the connection is gone, and then so is the transaction: the
    server rolls back what a lost connection left open. The connection is invalidated so
    the pool does not hand it out again.
    """
    if not connection.in_transaction():
        return
    try:
        await connection.rollback()
    except Exception:
        logger.warning("rollback failed; discarding the connection", exc_info=True)
        try:
            await connection.invalidate()
        except Exception:
            logger.debug("invalidating the connection failed too", exc_info=True)


class InMemoryUnitOfWork(_Lifecycle):
    """The unit of work for in-memory repositories: rollback really restores the data.

    Each change made through it is journaled with its undo, so a rollback reverses its
    own changes only. Reads are not isolated: other flows see uncommitted changes.
    """

    def __init__(self, database: InMemoryDatabase) -> None:
        super().__init__()
        self._database = database
        self._journal: list[Undo] | None = None

    @property
    def database(self) -> InMemoryDatabase:
        return self._database

    def check_usable(self) -> None:
        if self._journal is None:
            raise UnitOfWorkError("use the unit of work inside `async with`")
        super().check_usable()

    def remember(self, undo: Undo) -> None:
        assert self._journal is not None
        self._journal.append(undo)

    async def __aenter__(self) -> Self:
        self._journal = []
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._undo_to(0)
        self._journal = None
        self._forget()

    def _undo_to(self, mark: int) -> None:
        journal = self._journal or []
        while len(journal) > mark:
            journal.pop()()

    async def commit(self) -> None:
        self.check_usable()
        self._journal = []
        await self._run_callbacks()

    async def publish(self, event: Event, *, outbox: Table = OUTBOX) -> None:
        """The event joins the database's `published` list, and leaves it on rollback."""
        self.check_usable()
        published = self._database.published
        published.append(event)
        self.remember(published.pop)

    async def rollback(self) -> None:
        self._undo_to(0)
        self._forget()

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        self.check_usable()
        mark = len(self._journal or [])
        try:
            yield
        except BaseException:
            self._undo_to(mark)
            self._failure = None
            raise

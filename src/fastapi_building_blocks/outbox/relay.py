"""The relay: delivers the outbox's pending messages to handlers, at least once.

Each batch is claimed, then locked by key with `SELECT ... FOR UPDATE SKIP LOCKED` where
the server has it (PostgreSQL, MariaDB 10.6+, MySQL 8), in a transaction that stays open while the
handlers run and commits the outcome: several relays then work side by side without
claiming a row twice, and a relay that dies mid-batch (even by SIGKILL) leaves its rows
pending, for the next relay, because its transaction dies with it. Elsewhere (SQLite)
rows are read, delivered and marked in short transactions: run one relay there.

Order per aggregate: a batch takes only messages with no earlier pending message of the
same aggregate, so a later event is never handed over before an earlier one has been
delivered (or given up), however many relays run.

A handler gets the batch's messages it handles (in order) and either succeeds for all of
them or raises; then each message is handed over again on its own, so one bad message
does not hold back the others. A message that fails is retried after a backoff (doubling
from `first_retry_seconds`, with jitter) and is dead after `max_attempts`, with its last
error; dead messages can be listed and retried. Going dead publishes `<type>.dead` (with
the message's payload and error) in the same transaction: a saga's compensation is the
handler of that event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from sqlalchemy import Select, Table, bindparam, delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..database import SQLAlchemySession
from .messages import NOTIFY_CHANNEL, OUTBOX, Event, Message, State
from .rows import outbox_row

logger = logging.getLogger("fastapi_building_blocks.outbox")

#: A handler: applies messages, in the order given; raises if it could not.
Handler = Callable[[Sequence[Message]], Awaitable[None]]
#: Handlers by event type; "*" handles every type.
Handlers = Mapping[str, Handler | Sequence[Handler]]
ALL_EVENTS = "*"
#: A dead message publishes `<its type>.dead` (see `_dead_letter`).
DEAD_SUFFIX = ".dead"
MAX_ERROR_CHARACTERS = 2000
#: How often a relay that could not LISTEN (PostgreSQL) tries again; it polls meanwhile.
LISTEN_RETRY_SECONDS = 5.0
_PROPAGATOR = TraceContextTextMapPropagator()
_tracer = trace.get_tracer("fastapi_building_blocks.outbox")


@dataclass(frozen=True)
class Backlog:
    """The outbox as the relay last measured it."""

    pending: int
    #: Seconds since the oldest pending message was published; None with none pending.
    oldest_pending_seconds: float | None
    dead: int


@dataclass(frozen=True)
class DeadMessage:
    message: Message
    last_error: str | None


class Relay:
    """Delivers `outbox`'s pending messages to `handlers`; `run()` until stopped."""

    def __init__(
        self,
        session: SQLAlchemySession,
        handlers: Handlers,
        *,
        outbox: Table = OUTBOX,
        batch_size: int = 500,
        max_attempts: int = 10,
        first_retry_seconds: float = 1.0,
        max_retry_seconds: float = 300.0,
        retention: timedelta = timedelta(days=7),
        poll_seconds: float = 0.2,
        cleanup_seconds: float = 60.0,
    ) -> None:
        self.session = session
        self.outbox = outbox
        self.handlers = {
            event_type: (list(given) if isinstance(given, Sequence) else [given])
            for event_type, given in handlers.items()
        }
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.first_retry_seconds = first_retry_seconds
        self.max_retry_seconds = max_retry_seconds
        self.retention = retention
        self.poll_seconds = poll_seconds
        self.cleanup_seconds = cleanup_seconds
        #: Messages delivered and delivery failures since start (metrics read them).
        self.delivered = 0
        self.failures = 0
        self.last_backlog: Backlog | None = None
        self._wake = asyncio.Event()
        self._claim = _claim_statement(outbox)
        self._claim_keys = self._claim.with_only_columns(outbox.c.id)
        # Locked by key alone, after the claim found them without locks: locking the
        # claim's own scan would take InnoDB's gap locks, which deadlock with publishers'
        # inserts.
        ids = session.dialect.in_list(outbox.c.id, "ids")
        self._lock_claimed = (
            select(outbox).where(ids).order_by(outbox.c.id).with_for_update(skip_locked=True)
        )
        self._mark_delivered = (
            update(outbox).where(ids).values(
                state=State.DELIVERED.value, delivered_at=bindparam("now"),
                attempts=outbox.c.attempts + 1, last_error=None,
            )
        )  # fmt: skip

    # -- one batch ----------------------------------------------------------------------

    async def run_once(self) -> int:
        """Claim one batch, deliver it, record the outcome; the number of messages."""
        if self.session.dialect.skips_locked_rows(self.session.engine.dialect):
            async with self.session.transaction() as connection:
                messages = await self._claimed_and_locked(connection)
                if messages:
                    await self._record(connection, messages, await self._deliver(messages))
            return len(messages)
        async with self.session.connection() as connection:
            messages = await self._claimed(connection)
        if messages:
            failed = await self._deliver(messages)
            async with self.session.transaction() as connection:
                await self._record(connection, messages, failed)
        return len(messages)

    async def _claimed_and_locked(self, connection: AsyncConnection) -> list[Message]:
        """The claim's messages that no other relay holds, locked until this commits.

        The claim reads keys without locks (its `NOT EXISTS` sees an earlier message another
        relay holds as pending, so order per aggregate holds); the rows are then locked
        by primary key, skipping those another relay holds, and kept if still pending as
        locked. The state is checked here, not in the locking statement: with it there,
        PostgreSQL chose the (state, id) index and read every pending entry, the dead
        ones of rows just delivered included, for each batch (53 -> 15 ms a batch of 500).
        """
        ids = (await connection.execute(self._claim_keys, self._claim_parameters())).scalars().all()
        if not ids:
            return []
        rows = await connection.execute(self._lock_claimed, {"ids": ids})
        return [_message(row) for row in rows.mappings() if row["state"] == State.PENDING.value]

    async def _claimed(self, connection: AsyncConnection) -> list[Message]:
        rows = (await connection.execute(self._claim, self._claim_parameters())).mappings()
        return [_message(row) for row in rows.all()]

    def _claim_parameters(self) -> dict[str, Any]:
        return {"now": datetime.now(UTC), "limit": self.batch_size}

    async def _deliver(self, messages: list[Message]) -> dict[uuid.UUID, tuple[Message, str]]:
        """Hand each handler its messages; the ones that failed, with their error."""
        failed: dict[uuid.UUID, tuple[Message, str]] = {}
        for handler, mine in self._routed(messages):
            try:
                await _traced(handler, mine)
                continue
            except Exception as error:
                if len(mine) == 1:
                    failed[mine[0].id] = (mine[0], _describe(error))
                    continue
            for message in mine:  # one at a time: which of them fails?
                try:
                    await _traced(handler, [message])
                except Exception as error:
                    failed[message.id] = (message, _describe(error))
        return failed

    def _routed(self, messages: list[Message]) -> list[tuple[Handler, list[Message]]]:
        by_handler: dict[int, tuple[Handler, list[Message]]] = {}
        for message in messages:
            for handler in (
                *self.handlers.get(message.event_type, ()),
                *self.handlers.get(ALL_EVENTS, ()),
            ):
                by_handler.setdefault(id(handler), (handler, []))[1].append(message)
        return list(by_handler.values())

    async def _record(
        self,
        connection: AsyncConnection,
        messages: list[Message],
        failed: Mapping[uuid.UUID, tuple[Message, str]],
    ) -> None:
        """The outcome of a batch: `failed` are retried later or dead, the rest delivered."""
        outbox, now = self.outbox, datetime.now(UTC)
        for message, error in failed.values():
            attempts = message.attempts + 1
            dead = attempts >= self.max_attempts
            logger.warning(
                "outbox message %s (%s) failed, attempt %d%s: %s", message.id,
                message.event_type, attempts, " (dead)" if dead else "", error,
            )  # fmt: skip
            await connection.execute(
                update(outbox).where(outbox.c.id == message.id).values(
                    attempts=attempts, last_error=error,
                    state=State.DEAD.value if dead else State.PENDING.value,
                    available_at=now + timedelta(seconds=self._backoff(attempts)),
                )
            )  # fmt: skip
            if dead and not message.event_type.endswith(DEAD_SUFFIX):
                await connection.execute(outbox.insert(), outbox_row(_dead_letter(message, error)))
        self.failures += len(failed)
        delivered = [message.id for message in messages if message.id not in failed]
        if delivered:
            await connection.execute(self._mark_delivered, {"ids": delivered, "now": now})
        self.delivered += len(delivered)

    def _backoff(self, attempts: int) -> float:
        base = min(self.max_retry_seconds, self.first_retry_seconds * 2.0 ** (attempts - 1))
        return float(base * random.uniform(0.5, 1.5))  # jitter: relays do not retry in step

    # -- running ------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Deliver until `stop` is set (or the task is cancelled).

        A batch under way when `stop` is set is finished and recorded; cancelled
        instead, its transaction rolls back and its rows stay pending for the next relay.
        Wakes on PostgreSQL's notification of new rows, and polls every `poll_seconds`
        whatever happens: a database that is down or a listening connection that was lost
        only delays the wake-up (LISTEN is tried again every `LISTEN_RETRY_SECONDS`).
        """
        stop = stop or asyncio.Event()
        async with contextlib.AsyncExitStack() as held:
            listening, tried_at = False, float("-inf")
            cleaned_at = measured_at = float("-inf")
            while not stop.is_set():
                if not listening and time.monotonic() - tried_at >= LISTEN_RETRY_SECONDS:
                    listening, tried_at = await self._listen(held), time.monotonic()
                try:
                    handled = await self.run_once()
                    now = time.monotonic()
                    if now - measured_at >= 1.0:
                        self.last_backlog, measured_at = await self.backlog(), now
                    if now - cleaned_at >= self.cleanup_seconds:
                        await self.purge_delivered()
                        cleaned_at = now
                except Exception:
                    logger.exception("the relay's batch failed; trying again")
                    handled = 0
                if handled < self.batch_size:
                    await self._wait(stop)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Relay]:
        """`run()` as a background task for the block's length, as in a service's
        lifespan; leaving the block stops it after its batch under way."""
        stop = asyncio.Event()
        task = asyncio.create_task(self.run(stop), name="outbox relay")
        try:
            yield self
        finally:
            stop.set()
            await task

    async def _wait(self, stop: asyncio.Event) -> None:
        """Until new rows are announced, `poll_seconds` pass, or `stop` is set."""
        waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(
                waits, timeout=self.poll_seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiting in waits:
                waiting.cancel()
        self._wake.clear()

    async def _listen(self, held: contextlib.AsyncExitStack) -> bool:
        """On PostgreSQL, LISTEN for the outbox trigger's notifications on a connection
        held (by `held`) for the relay's life; whether it listens now. Elsewhere, or
        while the database cannot be reached, it does not (and the relay polls)."""
        if self.session.dialect.name != "postgresql":
            return True  # nothing to listen for: polling is the way

        def wake(*_: object) -> None:
            self._wake.set()

        try:
            connection = await self.session.checkout()  # held: the pool knows (database.kept)
        except Exception as error:
            logger.warning("the relay cannot LISTEN yet (%s); polling", type(error).__name__)
            return False
        held.push_async_callback(_closed_quietly, connection)
        try:
            driver: Any = (await connection.get_raw_connection()).driver_connection
            await driver.add_listener(NOTIFY_CHANNEL, wake)
        except Exception as error:
            logger.warning("the relay cannot LISTEN yet (%s); polling", type(error).__name__)
            return False
        return True

    # -- looking after the outbox -------------------------------------------------------

    async def backlog(self) -> Backlog:
        """How many messages wait, how old the oldest is, how many are dead."""
        outbox = self.outbox
        statement = (
            select(outbox.c.state, func.count(), func.min(outbox.c.created_at))
            .where(outbox.c.state.in_([State.PENDING.value, State.DEAD.value]))
            .group_by(outbox.c.state)
        )
        async with self.session.connection() as connection:
            rows = {row[0]: row for row in await connection.execute(statement)}
        pending = rows.get(State.PENDING.value)
        oldest = pending[2] if pending is not None else None
        age = (datetime.now(UTC) - oldest).total_seconds() if oldest is not None else None
        dead = rows.get(State.DEAD.value)
        return Backlog(pending[1] if pending else 0, age, dead[1] if dead else 0)

    async def dead_messages(self, limit: int = 100) -> list[DeadMessage]:
        """Messages given up on, oldest first, with the error of their last attempt."""
        outbox = self.outbox
        statement = (
            select(outbox).where(outbox.c.state == State.DEAD.value).order_by(outbox.c.id)
            .limit(limit)
        )  # fmt: skip
        async with self.session.connection() as connection:
            rows = (await connection.execute(statement)).mappings().all()
        return [DeadMessage(_message(row), row["last_error"]) for row in rows]

    async def retry_dead(self, ids: Sequence[uuid.UUID] | None = None) -> int:
        """Make dead messages (these, or all) pending again, with their attempts reset."""
        outbox = self.outbox
        statement = update(outbox).where(outbox.c.state == State.DEAD.value)
        if ids is not None:
            statement = statement.where(outbox.c.id.in_(list(ids)))
        statement = statement.values(
            state=State.PENDING.value, attempts=0, available_at=datetime.now(UTC)
        )
        async with self.session.transaction() as connection:
            return int((await connection.execute(statement)).rowcount)

    async def purge_delivered(self) -> int:
        """Remove messages delivered longer than `retention` ago."""
        outbox = self.outbox
        before = datetime.now(UTC) - self.retention
        statement = delete(outbox).where(
            outbox.c.state == State.DELIVERED.value, outbox.c.delivered_at < before
        )
        async with self.session.transaction() as connection:
            return int((await connection.execute(statement)).rowcount)


async def _closed_quietly(connection: AsyncConnection) -> None:
    """Close the listening connection (its LISTEN ends with it), dead or not."""
    with contextlib.suppress(Exception):
        await connection.close()


def _claim_statement(outbox: Table) -> Select[Any]:
    """The next pending messages, each the earliest pending one of its aggregate."""
    earlier = outbox.alias("earlier")
    before_it = (
        select(earlier.c.id)
        .where(
            earlier.c.aggregate_type == outbox.c.aggregate_type,
            earlier.c.aggregate_id == outbox.c.aggregate_id,
            earlier.c.state == State.PENDING.value,
            earlier.c.id < outbox.c.id,
        )
        .correlate(outbox)
    )
    return (
        select(outbox)
        .where(
            outbox.c.state == State.PENDING.value,
            outbox.c.available_at <= bindparam("now"),
            ~exists(before_it),
        )
        .order_by(outbox.c.id)
        .limit(bindparam("limit"))
    )


def _message(row: Mapping[Any, Any]) -> Message:
    return Message(
        id=row["id"], aggregate_type=row["aggregate_type"], aggregate_id=row["aggregate_id"],
        event_type=row["event_type"], payload=row["payload"], created_at=row["created_at"],
        attempts=row["attempts"], traceparent=row["traceparent"],
    )  # fmt: skip


async def _traced(handler: Handler, messages: list[Message]) -> None:
    """Run `handler` in a span that continues the trace that published the message (one
    message), or links to each publisher's span (a batch)."""
    contexts = [
        _PROPAGATOR.extract({"traceparent": m.traceparent}) for m in messages if m.traceparent
    ]
    parent = contexts[0] if len(messages) == 1 and contexts else None
    links = [
        Link(span.get_span_context())
        for span in (trace.get_current_span(context) for context in contexts)
        if span.get_span_context().is_valid
    ]
    name = f"process {messages[0].event_type}" if len(messages) == 1 else "process batch"
    attributes: dict[str, str | int] = {
        "messaging.system": "fastapi_building_blocks.outbox",
        "messaging.operation.type": "process",
        "messaging.batch.message_count": len(messages),
    }
    with _tracer.start_as_current_span(name, context=parent, kind=SpanKind.CONSUMER,
                                       links=links, attributes=attributes):  # fmt: skip
        await handler(messages)


def _dead_letter(message: Message, error: str) -> Event:
    """The event that says `message` went dead: a handler of `<type>.dead` undoes what the
    steps before it did (a saga's compensation). It is published with the dead state, in
    the same transaction, so it is delivered at least once like any event."""
    return Event(
        message.aggregate_type, message.aggregate_id, message.event_type + DEAD_SUFFIX,
        {"message_id": message.id, "payload": message.payload, "error": error},
    )  # fmt: skip


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:MAX_ERROR_CHARACTERS]

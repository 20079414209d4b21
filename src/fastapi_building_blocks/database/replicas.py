"""Read replicas: which one serves a read, and whether it has replayed this context's writes.

Reads outside a unit of work go to the replicas, in turn (`round_robin`) or to the one
with the fewest reads in flight (`least_pending`). A replica that fails to give a
connection, or loses it during a read, gets no reads until a ping answers again: a task
pings it in the background, with backoff (0.5 s doubling to 5 s), so no request waits on
a replica that is down. A read that lost its replica runs again elsewhere (reads are
safe to repeat), so a replica that goes away costs no errors. With none usable, the
read goes to the primary.

Read-your-writes, per context (a request, a task): after a write through the session,
its position in the primary's log is remembered in a context variable (PostgreSQL: the
WAL position after the commit; MariaDB: the GTID of the connection's last commit). A
later read in the same context goes to a replica only once that replica has applied the
position, which one small query on the replica's connection answers (once: the
furthest position each replica is known to have applied is kept); otherwise to the
primary. Where the dialect has no position to compare (MySQL), reads in the context stay
on the primary for `READ_YOUR_WRITES_SECONDS` after the write. A client carries its
writes to its next request as a token (`read_your_writes_token`,
`restore_read_your_writes`; `fastapi.ReadYourWritesMiddleware` in a header).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import itertools
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypeVar

from opentelemetry import trace
from sqlalchemy.ext.asyncio import AsyncConnection

from ..dialects import Dialect
from ..errors import (
    ConcurrencyError,
    DatabaseUnavailableError,
    RepositoryError,
    StatementTimeoutError,
)
from .translate import translate_error

if TYPE_CHECKING:
    from .session import SQLAlchemySession, _Checkout

logger = logging.getLogger("fastapi_building_blocks.database")
T = TypeVar("T")

#: How reads pick among the usable replicas.
Strategy = Literal["round_robin", "least_pending"]
READ_YOUR_WRITES_SECONDS = 2.0
#: A replica further behind than this gets no reads until it catches up.
MAX_LAG_SECONDS = 5.0
#: A replica's lag is measured again, on a read's connection, after this long.
LAG_CHECK_SECONDS = 1.0
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 5.0
#: The shapes of the positions the dialects write: a PostgreSQL LSN, MariaDB GTIDs. A
#: token that carries anything else is ignored (it is bound into a query on a replica).
_POSITION = re.compile(
    r"[0-9A-F]{1,8}/[0-9A-F]{1,8}|\d{1,10}-\d{1,10}-\d{1,20}(,\d{1,10}-\d{1,10}-\d{1,20}){0,15}"
)
MAX_TOKEN_CHARACTERS = 1024
#: A token's writes older than this are dropped: a replica that far behind gets no reads
#: anyway (the lag bound), so they would only cost a question per read.
TOKEN_MAX_AGE_SECONDS = 60.0


@dataclass(frozen=True)
class Written:
    """What this context last wrote to one primary: its log position, or only when
    (wall-clock seconds: a token carries it to another process)."""

    position: str | None
    at: float


#: Per primary (`ReplicaSet.key`): this context's last write. The dict is changed in
#: place, so a middleware that installed it sees the writes its request made.
_written: ContextVar[dict[str, Written] | None] = ContextVar("fbb_written", default=None)


def _writes() -> dict[str, Written]:
    written = _written.get()
    if written is None:
        written = {}
        _written.set(written)
    return written


def begin_request_writes() -> None:
    """Start a fresh record of writes for this context (a request): none so far."""
    _written.set({})


def read_your_writes_token() -> str | None:
    """This context's writes as an opaque token, or None if it wrote nothing.

    A service hands it back to its client (a header, a cookie) so that the client's next
    request reads its own writes too, from whichever instance serves it. It names no
    database (primaries are keyed by a hash) and grants nothing: a forged one can only
    send that client's reads to the primary, or to a replica that may be behind.
    """
    written = _written.get()
    if not written:
        return None
    document = {key: [entry.position, round(entry.at, 3)] for key, entry in written.items()}
    encoded = json.dumps(document, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(encoded).decode().rstrip("=")


def restore_read_your_writes(token: str | None) -> None:
    """Take up the writes a client's token carries, in this context. A malformed or
    oversized token is ignored: it only ever makes reads more careful, never fail."""
    begin_request_writes()
    if not token or len(token) > MAX_TOKEN_CHARACTERS:
        return
    try:
        document = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):
        return
    if not isinstance(document, dict):
        return
    written = _writes()
    oldest = time.time() - TOKEN_MAX_AGE_SECONDS
    for key, entry in itertools.islice(document.items(), 16):
        match entry:
            case [str() as position, int() | float() as at] if _POSITION.fullmatch(position):
                found = Written(position, float(at))
            case [None, int() | float() as at]:
                found = Written(None, float(at))
            case _:
                continue
        if found.at >= oldest:
            written[str(key)] = found


def _replica_fault(error: Exception, dialect: Dialect) -> Literal["down", "behind"] | None:
    """Why a read failed on a replica, where the replica and not the read is to blame.

    "down": the connection or the server went away. "behind": the server refused the
    read in a way the primary would not: a table or column a migration has just added
    that the replica has not applied yet, or (PostgreSQL) a read cancelled by a conflict
    with replay. None: the read itself failed (a timeout, a value that does not fit),
    and would fail the same on the primary.
    """
    translated = translate_error(error, dialect, None, log=False)
    if isinstance(translated, StatementTimeoutError):
        return None
    if isinstance(translated, DatabaseUnavailableError):
        return "down"
    if translated is None or type(translated) in (RepositoryError, ConcurrencyError):
        logger.warning("a replica could not serve a read (%s); the primary serves it",
                       type(error).__name__)  # fmt: skip
        return "behind"
    return None


@dataclass
class Replica:
    session: SQLAlchemySession
    #: Whether it gets reads: False from a failure until a ping answers again.
    up: bool = True
    #: Its last measured lag, and when (monotonic); None before the first measurement.
    lag_seconds: float | None = None
    lag_checked_at: float = float("-inf")
    #: Reads running on it now (least_pending picks the replica with the fewest).
    in_flight: int = 0
    #: The furthest log position it is known to have applied (`Dialect.position_order`):
    #: a write at or before it needs no question to the replica.
    applied: int = -1
    _probe: asyncio.Task[None] | None = None

    def failed(self, error: BaseException) -> None:
        """No more reads until it answers a ping; the pings start now, in the background."""
        if not self.up:
            return
        self.up = False
        logger.warning(
            "replica %s failed (%s); no reads until it answers",
            self.session.pool_name, type(error).__name__,
        )  # fmt: skip
        self._probe = asyncio.get_running_loop().create_task(self._ping_until_up())

    async def _ping_until_up(self) -> None:
        backoff = FIRST_BACKOFF_SECONDS
        while True:
            await asyncio.sleep(backoff)
            try:
                await self.session.ping()
            except Exception:
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            # Connections pooled before the failure may be dead: start from a fresh pool;
            # and what it had applied may not hold for the server that answers now.
            await self.session.engine.dispose()
            self.applied = -1
            logger.info("replica %s answers again", self.session.pool_name)
            self.up, self._probe = True, None
            return

    async def stop(self) -> None:
        """Stop pinging (the session is closing) and close its connections."""
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
            self._probe = None
        await self.session.disconnect()


@dataclass
class ReplicaSet:
    """A primary's replicas, the choice among them, and the context's writes to compare."""

    primary: SQLAlchemySession
    replicas: list[Replica]
    max_lag_seconds: float = MAX_LAG_SECONDS
    strategy: Strategy = "round_robin"
    _turn: itertools.count[int] = field(default_factory=itertools.count)
    #: Reads served, by target ("primary" or the replica's pool name).
    routed: dict[str, int] = field(default_factory=dict)
    #: This primary in the context's writes and in tokens: a hash, so a token names no URL.
    key: str = field(init=False)

    def __post_init__(self) -> None:
        self.key = hashlib.blake2s(self.primary.pool_name.encode(), digest_size=6).hexdigest()

    @classmethod
    def of(
        cls,
        primary: SQLAlchemySession,
        sessions: Sequence[SQLAlchemySession],
        max_lag_seconds: float = MAX_LAG_SECONDS,
        strategy: Strategy = "round_robin",
    ) -> ReplicaSet:
        replicas = [Replica(session) for session in sessions]
        return cls(primary, replicas, max_lag_seconds, strategy)

    # -- choosing -----------------------------------------------------------------------

    def candidates(self) -> list[Replica]:
        """The usable replicas in the order to try them; none while this context's last
        write is too recent to compare."""
        written = (_written.get() or {}).get(self.key)
        if (
            written is not None
            and written.position is None
            and time.time() - written.at < READ_YOUR_WRITES_SECONDS
        ):
            return []
        start = next(self._turn) % len(self.replicas)
        ordered = self.replicas[start:] + self.replicas[:start]
        usable = [replica for replica in ordered if replica.up]
        if self.strategy == "least_pending":
            usable.sort(key=lambda replica: replica.in_flight)  # stable: ties keep the turn
        return usable

    async def _serves(self, replica: Replica, connection: AsyncConnection) -> bool:
        """Whether `replica` is within the lag bound and has applied this context's last
        write. The lag is measured at most once per `LAG_CHECK_SECONDS`."""
        dialect = self.primary.dialect
        now = time.monotonic()
        if now - replica.lag_checked_at >= LAG_CHECK_SECONDS:
            replica.lag_seconds = await dialect.replica_lag(connection)
            replica.lag_checked_at = now
        if replica.lag_seconds is not None and replica.lag_seconds > self.max_lag_seconds:
            return False
        written = (_written.get() or {}).get(self.key)
        if written is None or written.position is None:
            return True
        order = dialect.position_order(written.position)
        if order is not None and order <= replica.applied:
            return True
        try:
            replayed = await dialect.has_replayed(connection, written.position)
        except Exception as error:
            if _replica_fault(error, dialect) == "down":
                raise  # the replica's own failure: out until it answers again
            # The position came from the client (a token) and the server could not read
            # it (a forged GTID past its ranges): not shown replayed, so this read goes
            # elsewhere, and the replica stays in use for everyone else's.
            return False
        if replayed and order is not None:
            replica.applied = max(replica.applied, order)
        return replayed

    async def checkout(
        self, *, on_primary: bool = False
    ) -> tuple[_Checkout, Replica | None, AsyncConnection]:
        """A connection on a replica that may serve this context's read, else on the
        primary; with the replica chosen (None: the primary), its read counted in flight."""
        for replica in () if on_primary else self.candidates():
            checkout = replica.session._primary_read()
            try:
                connection = await checkout.__aenter__()
            except Exception as error:  # unreachable, refused: the next one, or the primary
                replica.failed(error)
                continue
            try:
                serves = await self._serves(replica, connection)
            except Exception as error:
                await checkout.__aexit__(type(error), error, error.__traceback__)
                replica.failed(error)
                continue
            if serves:
                replica.in_flight += 1
                self._count(replica.session)
                return checkout, replica, connection
            await checkout.__aexit__(None, None, None)
        self._count(self.primary)
        checkout = self.primary._primary_read()
        return checkout, None, await checkout.__aenter__()

    async def read(self, run: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """`run` on the connection `checkout` gives, and again elsewhere if the replica
        failed it (reads are safe to repeat): on the next replica if this one went away,
        on the primary if it could not serve the read (see `_replica_fault`)."""
        on_primary = False
        while True:
            checkout, replica, connection = await self.checkout(on_primary=on_primary)
            try:
                result = await run(connection)
            except Exception as error:
                fault = _replica_fault(error, self.primary.dialect) if replica else None
                try:
                    await checkout.__aexit__(type(error), error, error.__traceback__)
                except Exception:
                    if fault is None:
                        raise
                if replica is None or fault is None:
                    raise
                if fault == "down":
                    replica.failed(error)
                else:
                    on_primary = True
                continue
            finally:
                if replica is not None:
                    replica.in_flight -= 1
            await checkout.__aexit__(None, None, None)
            return result

    def _count(self, target: SQLAlchemySession) -> None:
        """Count the read by its target, and name the server on the operation's span."""
        name = "primary" if target is self.primary else target.pool_name
        self.routed[name] = self.routed.get(name, 0) + 1
        address, port = target.server
        span = trace.get_current_span()
        if address is not None and span.is_recording():
            span.set_attribute("server.address", address)
            if port is not None:
                span.set_attribute("server.port", port)

    # -- remembering writes -------------------------------------------------------------

    async def remember_write(self, connection: AsyncConnection) -> None:
        """Note the primary's log position now, on the connection that just committed.

        Never raises: the write is stored whatever happens here. Without a position
        (unknown to the dialect, or the connection lost after the commit) reads in this
        context stay on the primary for a while instead.
        """
        position = None
        try:
            position = await self.primary.dialect.write_position(connection)
        except Exception:
            logger.warning("the write's log position is unknown", exc_info=True)
        _writes()[self.key] = Written(position, time.time())

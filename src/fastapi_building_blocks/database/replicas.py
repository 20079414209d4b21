"""Read replicas: which one serves a read, and whether it has replayed this context's writes.

Reads outside a unit of work go to the replicas in turn; a replica that fails to give a
connection gets no reads for a while (doubling from 1 s to 30 s), then is tried again:
the pool's pre-ping on that checkout is its health check. With none usable, the read
goes to the primary, with no error.

Read-your-writes, per context (a request, a task): after a write through the session,
its position in the primary's log is remembered in a context variable. A later read in
the same context goes to a replica only once that replica has replayed the position
(PostgreSQL: `pg_last_wal_replay_lsn()` against `pg_current_wal_lsn()` read after the
write), one small query on the replica's connection; otherwise to the primary. Where the
dialect has no position to compare, reads in the context stay on the primary for
`READ_YOUR_WRITES_SECONDS` after the write.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

if TYPE_CHECKING:
    from .session import SQLAlchemySession

logger = logging.getLogger("fastapi_building_blocks.database")

READ_YOUR_WRITES_SECONDS = 2.0
#: A replica further behind than this gets no reads until it catches up.
MAX_LAG_SECONDS = 5.0
#: A replica's lag is measured again, on a read's connection, after this long.
LAG_CHECK_SECONDS = 1.0
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0


@dataclass(frozen=True)
class Written:
    """What this context last wrote to one primary: its log position, or only when."""

    position: str | None
    at: float


#: Per primary (its pool name): this context's last write.
_written: ContextVar[dict[str, Written] | None] = ContextVar("fbb_written", default=None)


@dataclass
class Replica:
    session: SQLAlchemySession
    down_until: float = 0.0
    backoff: float = FIRST_BACKOFF_SECONDS
    #: Its last measured lag, and when (monotonic); None before the first measurement.
    lag_seconds: float | None = None
    lag_checked_at: float = float("-inf")

    def failed(self, error: BaseException) -> None:
        self.down_until = time.monotonic() + self.backoff
        logger.warning(
            "replica %s failed (%s); no reads for %.0fs",
            self.session.pool_name, type(error).__name__, self.backoff,
        )  # fmt: skip
        self.backoff = min(self.backoff * 2, MAX_BACKOFF_SECONDS)

    def answered(self) -> None:
        self.backoff = FIRST_BACKOFF_SECONDS


@dataclass
class ReplicaSet:
    """A primary's replicas, in turn, and the context's writes to compare them with."""

    primary: SQLAlchemySession
    replicas: list[Replica]
    max_lag_seconds: float = MAX_LAG_SECONDS
    _turn: itertools.count[int] = field(default_factory=itertools.count)
    #: Reads served, by target ("primary" or the replica's pool name).
    routed: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        primary: SQLAlchemySession,
        sessions: Sequence[SQLAlchemySession],
        max_lag_seconds: float = MAX_LAG_SECONDS,
    ) -> ReplicaSet:
        return cls(primary, [Replica(session) for session in sessions], max_lag_seconds)

    async def lags_behind(self, replica: Replica, connection: AsyncConnection) -> bool:
        """Whether `replica` is further behind than the bound, measured at most once per
        `LAG_CHECK_SECONDS` on the read's own connection."""
        lag_sql = self.primary.dialect.replica_lag_sql
        if lag_sql is None:
            return False
        now = time.monotonic()
        if now - replica.lag_checked_at >= LAG_CHECK_SECONDS:
            lag = (await connection.execute(text(lag_sql))).scalar()
            replica.lag_seconds = float(lag) if lag is not None else None
            replica.lag_checked_at = now
        return replica.lag_seconds is not None and replica.lag_seconds > self.max_lag_seconds

    def candidates(self) -> list[Replica]:
        """The usable replicas, starting with the next in turn; none while this
        context's last write is too recent to compare."""
        written = (_written.get() or {}).get(self.primary.pool_name)
        recent = written is not None and time.monotonic() - written.at < READ_YOUR_WRITES_SECONDS
        if written is not None and written.position is None and recent:
            return []
        now = time.monotonic()
        start = next(self._turn) % len(self.replicas)
        ordered = self.replicas[start:] + self.replicas[:start]
        return [replica for replica in ordered if replica.down_until <= now]

    async def has_replayed(self, connection: AsyncConnection) -> bool:
        """Whether the replica behind `connection` has replayed this context's last write."""
        written = (_written.get() or {}).get(self.primary.pool_name)
        replayed_sql = self.primary.dialect.replayed_position_sql
        if written is None or written.position is None or replayed_sql is None:
            return True
        result = await connection.execute(text(replayed_sql), {"position": written.position})
        return bool(result.scalar())

    async def remember_write(self, connection: AsyncConnection) -> None:
        """Note the primary's log position now, on the connection that just committed.

        Never raises: the write is stored whatever happens here. Without a position
        (unknown to the dialect, or the connection lost after the commit) reads in this
        context stay on the primary for a while instead.
        """
        position_sql = self.primary.dialect.write_position_sql
        position = None
        if position_sql is not None:
            try:
                position = str((await connection.execute(text(position_sql))).scalar())
            except Exception:
                logger.warning("the write's log position is unknown", exc_info=True)
        written = dict(_written.get() or {})
        written[self.primary.pool_name] = Written(position, time.monotonic())
        _written.set(written)

    def count(self, target: str) -> None:
        self.routed[target] = self.routed.get(target, 0) + 1

"""Connection-pool metrics read from the engines' own pools when a metric reader asks."""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterable
from typing import Any

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
from sqlalchemy import event

from ..database import SQLAlchemySession
from .opentelemetry import INSTRUMENTATION

#: Where a connection record keeps the moment its driver started connecting.
_CONNECTING_SINCE = "fastapi_building_blocks.connecting_since"
#: Connecting is a handshake (TLS, authentication): milliseconds to seconds.
CREATE_TIME_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class PoolMetrics:
    """`db.client.connection.count` by state (idle / used), `.max`, `.pending_requests`,
    and `.create_time`: its count is how often the pool opens a connection, which shows
    an overflow that keeps closing and reopening under steady load (docs/architecture.md).
    With replicas: each replica's pool too, `db.client.replica.reads` by the pool that
    served them and `db.client.replica.lag`.
    """

    def __init__(self, meter_provider: MeterProvider | None = None) -> None:
        self._sessions: weakref.WeakSet[SQLAlchemySession] = weakref.WeakSet()
        meter = metrics.get_meter(INSTRUMENTATION, meter_provider=meter_provider)
        meter.create_observable_up_down_counter(
            "db.client.connection.count",
            callbacks=[self._count],
            unit="{connection}",
            description="Connections in the pool, by state.",
        )
        meter.create_observable_up_down_counter(
            "db.client.connection.max",
            callbacks=[self._max],
            unit="{connection}",
            description="The most connections the pool allows.",
        )

        meter.create_observable_up_down_counter(
            "db.client.connection.pending_requests",
            callbacks=[self._pending],
            unit="{request}",
            description="Callers waiting for a pooled connection.",
        )
        # Not in the semantic conventions (they have no replicas): named alike.
        meter.create_observable_counter(
            "db.client.replica.reads",
            callbacks=[self._reads],
            unit="{read}",
            description="Reads outside a unit of work, by the pool that served them.",
        )
        meter.create_observable_gauge(
            "db.client.replica.lag",
            callbacks=[self._lag],
            unit="s",
            description="How far each replica was behind its primary when last measured.",
        )
        self._create_time = meter.create_histogram(
            "db.client.connection.create_time",
            unit="s",
            description="The time it took to create a new connection.",
            explicit_bucket_boundaries_advisory=list(CREATE_TIME_BUCKETS),
        )

    def watch(self, session: SQLAlchemySession) -> None:
        """Report `session`'s pool from now on (once, however often it is watched)."""
        if session in self._sessions:
            return
        self._sessions.add(session)
        for replica in session.replica_set.replicas if session.replica_set else ():
            self.watch(replica.session)
        pool = {"db.client.connection.pool.name": session.pool_name}
        engine = session.engine.sync_engine

        # The dialect's do_connect fires before the driver connects, the pool's connect
        # once the connection is ready: both documented engine events.
        def connecting(_dialect: Any, record: Any, _args: Any, _params: Any) -> None:
            if record is not None:
                record.info[_CONNECTING_SINCE] = time.perf_counter()

        def connected(_dbapi_connection: Any, record: Any) -> None:
            since = record.info.pop(_CONNECTING_SINCE, None) if record is not None else None
            if since is not None:
                self._create_time.record(time.perf_counter() - since, pool)

        event.listen(engine, "do_connect", connecting)
        event.listen(engine, "connect", connected)

    def _count(self, options: CallbackOptions) -> Iterable[Observation]:
        for session in list(self._sessions):
            pool = session.engine.pool
            name = {"db.client.connection.pool.name": session.pool_name}
            kept = session.kept_connections  # checked out, yet idle
            used = int(getattr(pool, "checkedout", lambda: 0)()) - kept
            idle = int(getattr(pool, "checkedin", lambda: 0)()) + kept
            yield Observation(used, {**name, "db.client.connection.state": "used"})
            yield Observation(idle, {**name, "db.client.connection.state": "idle"})

    def _max(self, options: CallbackOptions) -> Iterable[Observation]:
        for session in list(self._sessions):
            pool = session.engine.pool
            size = int(getattr(pool, "size", lambda: 1)()) + max(
                0, int(getattr(pool, "_max_overflow", 0))
            )
            yield Observation(size, {"db.client.connection.pool.name": session.pool_name})

    def _reads(self, options: CallbackOptions) -> Iterable[Observation]:
        for session in list(self._sessions):
            replicas = session.replica_set
            for target, reads in replicas.routed.items() if replicas else ():
                pool = session.pool_name if target == "primary" else target
                yield Observation(reads, {"db.client.connection.pool.name": pool})

    def _lag(self, options: CallbackOptions) -> Iterable[Observation]:
        for session in list(self._sessions):
            for replica in session.replica_set.replicas if session.replica_set else ():
                if replica.lag_seconds is not None:
                    name = {"db.client.connection.pool.name": replica.session.pool_name}
                    yield Observation(replica.lag_seconds, name)

    def _pending(self, options: CallbackOptions) -> Iterable[Observation]:
        for session in list(self._sessions):
            yield Observation(
                session.pending_requests, {"db.client.connection.pool.name": session.pool_name}
            )

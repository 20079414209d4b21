"""Connection-pool metrics read from the engines' own pools when a metric reader asks."""

from __future__ import annotations

import weakref
from collections.abc import Iterable

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

from ..database import SQLAlchemySession
from .opentelemetry import INSTRUMENTATION


class PoolMetrics:
    """`db.client.connection.count` by state (idle / used), `.max` and `.pending_requests`."""

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

    def watch(self, session: SQLAlchemySession) -> None:
        self._sessions.add(session)

    def _count(self, options: CallbackOptions) -> Iterable[Observation]:
        for session in list(self._sessions):
            pool = session.engine.pool
            name = {"db.client.connection.pool.name": session.pool_name}
            used = int(getattr(pool, "checkedout", lambda: 0)())
            idle = int(getattr(pool, "checkedin", lambda: 0)())
            yield Observation(used, {**name, "db.client.connection.state": "used"})
            yield Observation(idle, {**name, "db.client.connection.state": "idle"})

    def _max(self, options: CallbackOptions) -> Iterable[Observation]:
        for session in list(self._sessions):
            pool = session.engine.pool
            size = int(getattr(pool, "size", lambda: 1)()) + max(
                0, int(getattr(pool, "_max_overflow", 0))
            )
            yield Observation(size, {"db.client.connection.pool.name": session.pool_name})

    def _pending(self, options: CallbackOptions) -> Iterable[Observation]:
        for session in list(self._sessions):
            yield Observation(
                session.pending_requests, {"db.client.connection.pool.name": session.pool_name}
            )

"""The outbox's metrics, read from the relays when a metric reader asks.

Not in the semantic conventions (they describe brokers, not an outbox), so named alike:
`outbox.backlog.size`, `outbox.backlog.oldest_age` (seconds since the oldest pending
message was published: how far behind the other side is), `outbox.dead`, and the
counters `outbox.delivered` and `outbox.failures` (a rate of either is per second).
The backlog is what the relay last measured (about once a second), so a scrape costs no
query on the outbox.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

from ..outbox.relay import Backlog, Relay
from .opentelemetry import INSTRUMENTATION

Callback = Callable[[CallbackOptions], Iterable[Observation]]


class RelayMetrics:
    """Metrics of each relay `watch`ed, by its outbox's pool and table."""

    def __init__(self, meter_provider: MeterProvider | None = None) -> None:
        self._relays: weakref.WeakSet[Relay] = weakref.WeakSet()
        meter = metrics.get_meter(INSTRUMENTATION, meter_provider=meter_provider)
        gauges: tuple[tuple[str, str, str, Callable[[Backlog], float]], ...] = (
            ("outbox.backlog.size", "{message}", "Messages waiting to be delivered.",
             lambda backlog: backlog.pending),
            ("outbox.backlog.oldest_age", "s", "Age of the oldest message waiting.",
             lambda backlog: backlog.oldest_pending_seconds or 0.0),
            ("outbox.dead", "{message}", "Messages given up on after every attempt.",
             lambda backlog: backlog.dead),
        )  # fmt: skip
        for name, unit, description, value in gauges:
            meter.create_observable_gauge(
                name, callbacks=[self._backlog(value)], unit=unit, description=description
            )
        meter.create_observable_counter(
            "outbox.delivered", callbacks=[self._counted("delivered")], unit="{message}",
            description="Messages delivered to every handler.",
        )  # fmt: skip
        meter.create_observable_counter(
            "outbox.failures", callbacks=[self._counted("failures")], unit="{message}",
            description="Deliveries a handler failed (each is retried, or dead at last).",
        )  # fmt: skip

    def watch(self, relay: Relay) -> None:
        self._relays.add(relay)

    def _backlog(self, value: Callable[[Backlog], float]) -> Callback:
        def observe(_options: CallbackOptions) -> Iterable[Observation]:
            for relay in list(self._relays):
                if relay.last_backlog is not None:
                    yield Observation(value(relay.last_backlog), _attributes(relay))

        return observe

    def _counted(self, attribute: str) -> Callback:
        def observe(_options: CallbackOptions) -> Iterable[Observation]:
            for relay in list(self._relays):
                yield Observation(getattr(relay, attribute), _attributes(relay))

        return observe


def _attributes(relay: Relay) -> dict[str, str]:
    return {
        "db.client.connection.pool.name": relay.session.pool_name,
        "outbox.table": relay.outbox.name,
    }

"""A relay's claim costs what it claims: it reads the pending rows it takes, not the
delivered rows kept for the retention period before them. Asked of each server's own
plan, with the rows it actually read."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection

from fastapi_building_blocks.outbox import Event, Relay, State
from fastapi_building_blocks.outbox.rows import outbox_row
from tests.outbox.conftest import Pair
from tests.outbox.schema import outbox

KEPT_DELIVERED = 20_000
PENDING = 2_000
BATCH = 100
#: How each server explains a statement by running it.
EXPLAIN = {
    "postgresql": "EXPLAIN (ANALYZE, FORMAT JSON) ",
    "mariadb": "ANALYZE FORMAT=JSON ",
    "sqlite": "EXPLAIN QUERY PLAN ",
}


async def keep_delivered_then_add_pending(pair: Pair) -> None:
    """Delivered rows first (older keys), as a relay leaves them until clean-up."""
    rows = [
        outbox_row(Event("account", str(n), "account.created", {"n": n}))
        | (
            {"state": State.DELIVERED.value, "delivered_at": datetime.now(UTC)}
            if n < KEPT_DELIVERED
            else {}
        )
        for n in range(KEPT_DELIVERED + PENDING)
    ]
    async with pair.source.transaction() as connection:
        await connection.execute(outbox.insert(), rows)
        await connection.exec_driver_sql(
            f"ANALYZE {'TABLE ' if pair.name == 'mariadb' else ''}{outbox.name}"
        )


async def claim_plan(pair: Pair) -> list[Any]:
    """The server's explanation of the claim statement, as the relay sends it."""
    relay = Relay(pair.source, {}, outbox=outbox, batch_size=BATCH)
    sent: list[tuple[str, Any]] = []

    def record(_connection: Connection, _cursor: Any, statement: str, parameters: Any,
               *_: Any) -> None:  # fmt: skip
        sent.append((statement, parameters))

    async with pair.source.connection() as connection:
        sync = connection.sync_connection
        assert sync is not None
        event.listen(sync, "before_cursor_execute", record)
        try:
            await connection.execute(relay._claim, {"now": datetime.now(UTC), "limit": BATCH})
        finally:
            event.remove(sync, "before_cursor_execute", record)
        ((statement, parameters),) = sent
        result = await connection.exec_driver_sql(EXPLAIN[pair.name] + statement, parameters)
        return [tuple(row) for row in result]


def nodes(plan: Any) -> Iterator[dict[str, Any]]:
    """Every object in a JSON plan, depth first."""
    if isinstance(plan, dict):
        yield plan
        plan = list(plan.values())
    if isinstance(plan, list):
        for item in plan:
            yield from nodes(item)


def outbox_rows_read(pair: Pair, plan: list[Any]) -> int:
    """Rows the claim's own scan of the outbox read (the anti-join's probes aside)."""
    document = json.loads(plan[0][0]) if isinstance(plan[0][0], str) else plan[0][0]
    if pair.name == "postgresql":
        (scan,) = [n for n in nodes(document) if n.get("Alias") == outbox.name]
        return int(scan["Actual Rows"] + scan.get("Rows Removed by Filter", 0))
    (scan,) = [n for n in nodes(document) if n.get("table_name") == outbox.name]
    return int(scan["r_rows"] * scan["r_loops"])


async def test_a_claim_reads_only_the_pending_rows_it_takes(pair: Pair) -> None:
    await keep_delivered_then_add_pending(pair)

    plan = await claim_plan(pair)

    if pair.name == "sqlite":  # no counts: the plan must seek pending rows in key order
        steps = " / ".join(str(row[-1]) for row in plan)
        assert "TEMP B-TREE" not in steps, steps
        assert f"SCAN {outbox.name}" not in steps, steps
    else:
        assert outbox_rows_read(pair, plan) <= BATCH

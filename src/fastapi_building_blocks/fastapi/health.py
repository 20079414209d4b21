"""Liveness and readiness: the first says the process answers, the second that every
configured database does, by name, each within its session's ping timeout, with its
latency and, where migrations are named, its schema up to date."""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from ..database import SQLAlchemySession
from ..database.replicas import Replica
from ..errors import DatabaseUnavailableError, RepositoryError
from ..migrations import current_revision
from ..outbox.relay import Relay
from .problem_body import problem
from .problems import problem_responses

router = APIRouter(prefix="/health", tags=["health"])
#: A database whose migrations readiness does not check (none were named for it).
_UNCHECKED = object()


async def _check(session: SQLAlchemySession, expected: object) -> dict[str, object]:
    """The database's status ("ok", unreachable, or its schema behind), how long its ping
    took, and its replicas'. A replica down does not make the service unready: reads
    fall back to the primary."""
    checked = await _check_primary(session, expected)
    if session.replica_set is not None:
        checked["replicas"] = await asyncio.gather(
            *(_check_replica(replica) for replica in session.replica_set.replicas)
        )
    return checked


async def _pinged(session: SQLAlchemySession) -> dict[str, object]:
    """ "ok" and the ping's latency, or "unavailable"."""
    started = time.perf_counter()
    try:
        await session.ping()
    except (RepositoryError, SQLAlchemyError, TimeoutError):
        return {"status": "unavailable"}
    return {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


async def _check_replica(replica: Replica) -> dict[str, object]:
    checked = {"pool": replica.session.pool_name, **await _pinged(replica.session)}
    if checked["status"] == "ok":
        checked["lag_seconds"] = replica.lag_seconds
    return checked


async def _check_primary(session: SQLAlchemySession, expected: object) -> dict[str, object]:
    checked = await _pinged(session)
    if checked["status"] != "ok" or expected is _UNCHECKED:
        return checked
    try:
        async with asyncio.timeout(session.ping_timeout):
            current = await current_revision(session)
    except (RepositoryError, SQLAlchemyError, TimeoutError):
        return {"status": "unavailable"}
    if current != expected:
        checked["status"] = (
            f"schema at revision {current or 'none'}, migrations at {expected}: migrate it"
        )
    return checked


@router.get("/live", summary="The process answers")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/ready",
    response_model=None,
    summary="Every database answers, its schema migrated",
    responses=problem_responses(503),
)
async def ready(request: Request) -> dict[str, object] | JSONResponse:
    databases = request.app.state.databases
    expected = getattr(request.app.state, "expected_revisions", {})
    outcomes = await asyncio.gather(
        *(_check(session, expected.get(name, _UNCHECKED)) for name, session in databases.items())
    )
    status = dict(zip(databases, outcomes, strict=True))
    failed = [
        f"{name} {check['status']}" for name, check in status.items() if check["status"] != "ok"
    ]
    if failed:
        response = problem(503, "Service Unavailable", "; ".join(failed), databases=status)
        response.headers["Retry-After"] = str(DatabaseUnavailableError.retry_after_seconds)
        return response
    ready: dict[str, object] = {"status": "ok", "databases": status}
    relays = getattr(request.app.state, "relays", ())
    if relays:
        ready["outbox"] = [_backlog_of(relay) for relay in relays]
    return ready


def _backlog_of(relay: Relay) -> dict[str, object]:
    """What the relay last measured (about once a second): reading the outbox here would
    make every readiness probe a query on it. A backlog does not make the service
    unready: its writes still work; the age says how far behind the other side is."""
    backlog = relay.last_backlog
    if backlog is None:
        return {"status": "starting"}
    return {
        "status": "ok",
        "pending": backlog.pending,
        "oldest_pending_seconds": backlog.oldest_pending_seconds,
        "dead": backlog.dead,
    }

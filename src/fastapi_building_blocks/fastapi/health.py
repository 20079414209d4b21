"""Liveness and readiness: the first says the process answers, the second that every
configured database does, each within its session's ping timeout."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..errors import DatabaseUnavailableError
from .problem_body import problem
from .problems import problem_responses

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live", summary="The process answers")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/ready",
    response_model=None,
    summary="Every database answers",
    responses=problem_responses(503),
)
async def ready(request: Request) -> dict[str, object] | JSONResponse:
    databases = request.app.state.databases
    outcomes = await asyncio.gather(
        *(session.ping() for session in databases.values()), return_exceptions=True
    )
    status = {
        name: "ok" if outcome is None else "unavailable"
        for name, outcome in zip(databases, outcomes, strict=True)
    }
    failed = [name for name, outcome in zip(databases, outcomes, strict=True) if outcome]
    if failed:
        response = problem(
            503,
            "Service Unavailable",
            f"unavailable: {', '.join(failed)}",
            databases=status,
        )
        response.headers["Retry-After"] = str(DatabaseUnavailableError.retry_after_seconds)
        return response
    return {"status": "ok", "databases": status}

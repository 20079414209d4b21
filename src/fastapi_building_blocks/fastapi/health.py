"""Liveness and readiness: the first says the process answers, the second that every
configured database does."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..errors import DatabaseUnavailableError
from .problems import problem

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", response_model=None)
async def ready(request: Request) -> dict[str, object] | JSONResponse:
    databases = request.app.state.databases
    outcomes = await asyncio.gather(
        *(session.ping() for session in databases.values()), return_exceptions=True
    )
    status = {
        name: "ok" if outcome is None else "unavailable"
        for name, outcome in zip(databases, outcomes, strict=True)
    }
    if any(isinstance(outcome, DatabaseUnavailableError) for outcome in outcomes):
        response = problem(
            503, "Service Unavailable", "a database is unavailable", databases=status
        )
        response.headers["Retry-After"] = str(DatabaseUnavailableError.retry_after_seconds)
        return response
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return {"status": "ok", "databases": status}

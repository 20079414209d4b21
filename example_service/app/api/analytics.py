"""/api/v1/analytics/users: the users as the analytics database holds them.

Filled by the relay from the users database's outbox (app/projection.py), read only,
with the same filter and sort language as every list route.
"""

from __future__ import annotations

from fastapi_building_blocks.fastapi import crud_router

from ..infrastructure.repositories import UserProjectionRepository
from .schemas import UserProjectionRead

router = crud_router(
    prefix="/api/v1/analytics/users",
    repository=UserProjectionRepository,
    database="analytics",
    read=UserProjectionRead,
    tags=["analytics"],
)

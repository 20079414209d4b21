"""/api/v1/page-views: CRUD on the "analytics" database, a database of its own.

Which database a route uses is the code's choice (`database="analytics"`), never the
client's; DATABASES__analytics__URL says where it is (an SQLite file by default).
"""

from __future__ import annotations

from fastapi_building_blocks.fastapi import crud_router

from ..infrastructure.repositories import PageViewRepository
from .schemas import PageViewCreate, PageViewRead, PageViewUpdate

router = crud_router(
    prefix="/api/v1/page-views",
    repository=PageViewRepository,
    database="analytics",
    create=PageViewCreate,
    update=PageViewUpdate,
    read=PageViewRead,
    tags=["page views"],
)

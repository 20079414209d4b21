"""/api/v1/posts: the standard CRUD routes, nothing more."""

from __future__ import annotations

from fastapi_building_blocks.fastapi import crud_router, repository

from ..infrastructure.repositories import PostRepository
from .schemas import PostCreate, PostRead, PostUpdate

router = crud_router(
    prefix="/api/v1/posts",
    repository=repository(PostRepository),
    create=PostCreate,
    update=PostUpdate,
    read=PostRead,
    tags=["posts"],
)

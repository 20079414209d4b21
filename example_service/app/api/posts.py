"""/api/v1/posts: the standard CRUD routes, and one query of this service's own."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter

from fastapi_building_blocks.fastapi import crud_router, problem_responses, repository

from ..infrastructure.repositories import PostRepository
from .schemas import PostCreate, PostRead, PostUpdate

PREFIX = "/api/v1/posts"
Posts = Annotated[PostRepository, repository(PostRepository)]

extra = APIRouter(prefix=PREFIX, tags=["posts"])


@extra.get(
    "/counts-by-author",
    summary="How many posts each author has",
    responses=problem_responses(503, 504),
)
async def counts_by_author(posts: Posts, published_only: bool = False) -> dict[uuid.UUID, int]:
    return await posts.count_by_author(published_only=published_only)


router = crud_router(
    prefix=PREFIX,
    repository=repository(PostRepository),
    create=PostCreate,
    update=PostUpdate,
    read=PostRead,
    tags=["posts"],
)

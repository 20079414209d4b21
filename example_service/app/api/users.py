"""/api/v1/users: the standard CRUD routes plus what this service adds."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter

from fastapi_building_blocks.fastapi import (
    crud_router,
    problem_responses,
    repository,
    repository_in_unit_of_work,
)
from fastapi_building_blocks.idempotency import IdempotencyKeys

from ..domain.post import welcome_post
from ..domain.user import User, normalized_email
from ..infrastructure.repositories import PostRepository, UserRepository
from ..infrastructure.tables import idempotency_keys
from .schemas import UserCreate, UserRead, UserUpdate, UserWithWelcomePost

PREFIX = "/api/v1/users"

#: Keys kept a day; a request that died holding one gives it up after 30 s.
IDEMPOTENCY_KEYS = IdempotencyKeys(idempotency_keys)

Users = Annotated[UserRepository, repository(UserRepository)]
UsersInWork = Annotated[UserRepository, repository_in_unit_of_work(UserRepository)]
PostsInWork = Annotated[PostRepository, repository_in_unit_of_work(PostRepository)]

extra = APIRouter(prefix=PREFIX, tags=["users"])


@extra.post(
    "/with-welcome-post",
    status_code=201,
    response_model=UserWithWelcomePost,
    responses=problem_responses(409, 422, 503, 504),
    summary="Register a user with a welcome post, both or neither",
)
async def register_with_welcome_post(
    body: UserCreate, users: UsersInWork, posts: PostsInWork
) -> dict[str, object]:
    """Both rows or neither: one unit of work, committed when this returns."""
    user = await users.create(User(**body.model_dump()))
    post = await posts.create(welcome_post(user))
    return {"user": user, "post": post}


@extra.get(
    "/search/by-name",
    response_model=list[UserRead],
    responses=problem_responses(400, 503, 504),
    summary="Users whose first or last name contains q, ignoring case, by username",
)
async def search_by_name(q: str, users: Users) -> list[User]:
    return await users.search_by_name(q)


def user_changes(_users: UserRepository, changes: dict[str, Any]) -> dict[str, Any]:
    """A PATCH writes its fields directly: the domain's rules for them apply here."""
    if changes.get("email") is not None:
        changes["email"] = normalized_email(changes["email"])
    return changes


# Writes in a unit of work: each change and its event (the outbox) commit together, and
# with an Idempotency-Key header, the response too (a client's retry changes nothing).
router = crud_router(
    prefix=PREFIX,
    repository=UserRepository,
    writes_in_unit_of_work=True,
    idempotency_keys=IDEMPOTENCY_KEYS,
    create=UserCreate,
    update=UserUpdate,
    read=UserRead,
    to_changes=user_changes,
    tags=["users"],
)

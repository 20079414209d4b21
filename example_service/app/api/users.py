"""HTTP routes for users: request/response schemas and the calls into the repository."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from fastapi_building_blocks import Page

from ..domain.user import User
from ..infrastructure.repositories import UserRepository

router = APIRouter(prefix="/api/v1/users", tags=["users"])


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=255)
    username: str = Field(min_length=1, max_length=50)


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    first_name: str
    last_name: str
    email: str
    username: str
    is_active: bool


class UserPage(BaseModel):
    items: list[UserRead]
    total: int
    page: int
    page_size: int
    total_pages: int


def get_users(request: Request) -> UserRepository:
    return UserRepository(request.app.state.database)


Users = Annotated[UserRepository, Depends(get_users)]


@router.post("/", status_code=201, response_model=UserRead)
async def create_user(body: UserCreate, users: Users) -> User:
    return await users.create(User(**body.model_dump()))


@router.get("/", response_model=UserPage)
async def list_users(
    users: Users,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Page[User]:
    return await users.search(sort=["username"], page=page, page_size=page_size)


@router.get("/{user_id}", response_model=UserRead)
async def get_user(user_id: uuid.UUID, users: Users) -> User:
    return await users.get_by_id(user_id)

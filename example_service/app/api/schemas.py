"""What the API accepts and returns. Request bodies forbid unknown fields."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserCreate(Body):
    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    email: str = Field(pattern=EMAIL, max_length=255)
    username: str = Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_.-]+$")


class UserUpdate(Body):
    """Send the `version` you read: a concurrent change makes the update fail with 409."""

    version: int
    first_name: str | None = Field(None, min_length=1, max_length=100)
    last_name: str | None = Field(None, min_length=1, max_length=100)
    email: str | None = Field(None, pattern=EMAIL, max_length=255)
    is_active: bool | None = None


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    first_name: str
    last_name: str
    email: str
    username: str
    is_active: bool
    created_at: datetime
    updated_at: datetime
    version: int


class PostCreate(Body):
    author_id: uuid.UUID
    title: str = Field(min_length=1, max_length=200)
    content: str = Field("", max_length=20_000)
    published: bool = False


class PostUpdate(Body):
    version: int
    title: str | None = Field(None, min_length=1, max_length=200)
    content: str | None = Field(None, max_length=20_000)
    published: bool | None = None


class PostRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    author_id: uuid.UUID
    title: str
    content: str
    published: bool
    created_at: datetime
    updated_at: datetime
    version: int


class UserWithWelcomePost(BaseModel):
    user: UserRead
    post: PostRead

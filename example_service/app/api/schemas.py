"""What the API accepts and returns. Request bodies forbid unknown fields."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

#: Not a space, NUL or @: spaces spelled out, since the server's regex engine (Rust) and a
#: client's (ECMAScript) disagree about \s (U+0085, U+FEFF).
_WORD = r"[^@\x00\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+"
EMAIL = rf"^{_WORD}@{_WORD}\.{_WORD}$"
#: Text every supported database can store: PostgreSQL refuses NUL characters.
TEXT = r"^[^\x00]*$"
#: The `version` column is an INTEGER (at most 2^31 - 1 on PostgreSQL, MySQL and SQL
#: Server), and an update stores the version sent plus one.
MAX_VERSION = 2**31 - 2


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserCreate(Body):
    first_name: str = Field(min_length=1, max_length=100, pattern=TEXT)
    last_name: str = Field(min_length=1, max_length=100, pattern=TEXT)
    email: str = Field(pattern=EMAIL, max_length=255)
    username: str = Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_.-]+$")


class UserUpdate(Body):
    """Send the `version` you read: a concurrent change makes the update fail with 409."""

    version: int = Field(ge=1, le=MAX_VERSION)
    first_name: str | None = Field(None, min_length=1, max_length=100, pattern=TEXT)
    last_name: str | None = Field(None, min_length=1, max_length=100, pattern=TEXT)
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
    version: int = Field(ge=1, le=MAX_VERSION)


class PostCreate(Body):
    author_id: uuid.UUID
    title: str = Field(min_length=1, max_length=200, pattern=TEXT)
    content: str = Field("", max_length=20_000, pattern=TEXT)
    published: bool = False


class PostUpdate(Body):
    version: int = Field(ge=1, le=MAX_VERSION)
    title: str | None = Field(None, min_length=1, max_length=200, pattern=TEXT)
    content: str | None = Field(None, max_length=20_000, pattern=TEXT)
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
    version: int = Field(ge=1, le=MAX_VERSION)


class UserWithWelcomePost(BaseModel):
    user: UserRead
    post: PostRead


class PageViewCreate(Body):
    path: str = Field(min_length=1, max_length=500, pattern=r"^/[^\x00]*$")
    user_id: uuid.UUID | None = None


class PageViewUpdate(Body):
    path: str | None = Field(None, min_length=1, max_length=500, pattern=r"^/[^\x00]*$")
    user_id: uuid.UUID | None = None


class PageViewRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    path: str
    user_id: uuid.UUID | None
    viewed_at: datetime


class UserProjectionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    email: str
    full_name: str
    is_active: bool
    source_version: int
    projected_at: datetime

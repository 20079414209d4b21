"""The Post entity and the one rule that creates posts on its own: the welcome post."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from fastapi_building_blocks import uuid7

from .user import User


@dataclass
class Post:
    author_id: uuid.UUID
    title: str
    content: str = ""
    published: bool = False
    id: uuid.UUID = field(default_factory=uuid7)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 1


def welcome_post(user: User) -> Post:
    """Every new user starts with one published post greeting them."""
    return Post(
        author_id=user.id,
        title=f"Welcome, {user.first_name}!",
        content=f"Hello {user.full_name}, glad to have you here.",
        published=True,
    )

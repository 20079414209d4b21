"""Repositories: the generic one pointed at a table, plus the queries this service needs."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, true

from fastapi_building_blocks import Filter, Page, SQLAlchemyRepository, any_of

from ..domain.page_view import PageView
from ..domain.post import Post
from ..domain.user import User
from .tables import page_views, posts, users


class UserRepository(SQLAlchemyRepository[User, uuid.UUID]):
    table = users
    # What API callers may filter and sort on; every other column stays private.
    filterable = sortable = (
        "first_name", "last_name", "email", "username", "is_active", "created_at",
    )  # fmt: skip

    async def get_by_email(self, email: str) -> User | None:
        return await self.find_one([Filter("email", "eq", email.strip().lower())])

    async def get_by_username(self, username: str) -> User | None:
        return await self.find_one([Filter("username", "eq", username)])

    async def get_active_users(self, *, page: int = 1, page_size: int = 20) -> Page[User]:
        return await self.search(
            [Filter("is_active", "eq", True)], sort=["username"], page=page, page_size=page_size
        )

    async def search_by_name(self, text: str, *, limit: int = 20) -> list[User]:
        """Users whose first or last name contains `text`, ignoring case, by username."""
        either_name = any_of(
            Filter("first_name", "contains", text), Filter("last_name", "contains", text)
        )
        return await self.list([either_name], sort=["username"], limit=limit)


class PostRepository(SQLAlchemyRepository[Post, uuid.UUID]):
    table = posts
    filterable = sortable = ("author_id", "title", "published", "created_at")

    async def count_by_author(self, *, published_only: bool = False) -> dict[uuid.UUID, int]:
        """A query of this service's own: posts per author (write yours the same way)."""
        statement = select(posts.c.author_id, func.count().label("posts"))
        if published_only:
            statement = statement.where(posts.c.published == true())
        rows = await self.query(self.live(statement).group_by(posts.c.author_id))
        return {row["author_id"]: row["posts"] for row in rows}


class PageViewRepository(SQLAlchemyRepository[PageView, uuid.UUID]):
    """On the "analytics" database: the routes choose it (`database="analytics"`)."""

    table = page_views
    filterable = sortable = ("path", "user_id", "viewed_at")

"""Repositories: the generic one pointed at a table, plus the queries this service needs."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from sqlalchemy import func, select, true

from fastapi_building_blocks import (
    Filter,
    Page,
    SQLAlchemyRepository,
    UnitOfWork,
    UnitOfWorkError,
    any_of,
)
from fastapi_building_blocks.outbox import Event

from ..domain.page_view import PageView
from ..domain.post import Post
from ..domain.user import User
from ..domain.user_projection import UserProjection
from .tables import page_views, posts, user_projections, users


class UserRepository(SQLAlchemyRepository[User, uuid.UUID]):
    """Users; every change is published (the outbox) in the change's own transaction, so
    its writes run in a unit of work (`repository_in_unit_of_work`)."""

    table = users
    # What API callers may filter and sort on; every other column stays private.
    filterable = sortable = (
        "first_name", "last_name", "email", "username", "is_active", "created_at",
    )  # fmt: skip

    async def create(self, entity: User) -> User:
        created = await super().create(entity)
        await self._publish("user.created", created.id, asdict(created))
        return created

    async def update(self, entity: User) -> User:
        updated = await super().update(entity)
        await self._publish("user.updated", updated.id, asdict(updated))
        return updated

    async def update_fields(self, key: uuid.UUID, values: Mapping[str, Any]) -> User:
        updated = await super().update_fields(key, values)
        await self._publish("user.updated", updated.id, asdict(updated))
        return updated

    async def delete(self, key: uuid.UUID) -> None:
        await super().delete(key)
        await self._publish("user.deleted", key, {"id": key})

    async def _publish(self, event_type: str, key: uuid.UUID, payload: dict[str, Any]) -> None:
        if not isinstance(self.session, UnitOfWork):
            raise UnitOfWorkError(
                "UserRepository publishes its changes: write through a unit of work, so "
                "the change and its event commit together"
            )
        await self.session.publish(Event("user", str(key), event_type, payload))

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


class UserProjectionRepository(SQLAlchemyRepository[UserProjection, uuid.UUID]):
    """On the "analytics" database: users as the relay projected them."""

    table = user_projections
    filterable = sortable = ("username", "email", "is_active", "source_version", "projected_at")

"""A standard CRUD router for one repository (the seed's `create_standard_routes`).

    router = crud_router(
        prefix="/api/v1/posts", repository=repository(PostRepository),
        create=PostCreate, update=PostUpdate, read=PostRead,
    )

Routes: `GET /` (offset page), `GET /keyset` (cursor page), `GET /{id}`, `POST /`,
`PATCH /{id}` (a `version` in the body makes it an optimistic update), `DELETE /{id}`.
Query language: `filter=field:op:value` (repeatable; `in`, `not_in` and `between` take
comma-separated values), `sort=-created_at,name`.

No `from __future__ import annotations` here: route signatures use the caller's types,
which FastAPI must see as objects, not strings.
"""

import dataclasses
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from ..errors import InvalidFilterError
from ..repository import Filter

T = TypeVar("T")
LIST_OPERATORS = frozenset({"in", "not_in", "between"})


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    page_size: int
    total_pages: int


class CursorPageOut(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


def parse_filters(expressions: list[str]) -> list[Filter]:
    """`field:op:value` expressions as filters; the repository checks fields and values."""
    filters = []
    for expression in expressions:
        parts = expression.split(":", 2)
        if len(parts) != 3 or not parts[0] or not parts[1]:
            raise InvalidFilterError(
                f"filter {expression!r} is not field:op:value", field=parts[0] or None
            )
        field, op, value = parts
        filters.append(Filter(field, op, value.split(",") if op in LIST_OPERATORS else value))
    return filters


def parse_sort(sort: str | None) -> list[str]:
    return [key.strip() for key in sort.split(",") if key.strip()] if sort else []


def _changed(entity: Any, changes: dict[str, Any]) -> Any:
    if dataclasses.is_dataclass(entity) and not isinstance(entity, type):
        return dataclasses.replace(entity, **changes)
    return entity.model_copy(update=changes)


def crud_router(
    *,
    prefix: str,
    repository: Any,
    create: type[BaseModel],
    update: type[BaseModel],
    read: type[BaseModel],
    key_type: type = uuid.UUID,
    to_entity: Callable[[Any, BaseModel], Any] | None = None,
    tags: list[str | Any] | None = None,
) -> APIRouter:
    """Routes for one resource; `repository` is a `Depends` (see `dependencies`)."""
    router = APIRouter(prefix=prefix, tags=tags)
    Repo = Annotated[Any, repository]  # noqa: N806 - a type alias
    Filters = Annotated[list[str], Query(alias="filter", description="field:op:value")]  # noqa: N806
    Sort = Annotated[str | None, Query(description="comma-separated, '-' for descending")]  # noqa: N806

    def build(repo: Any, body: BaseModel) -> Any:
        if to_entity is not None:
            return to_entity(repo, body)
        return type(repo).entity_type(**body.model_dump())

    @router.get("/", response_model=PageOut[read])  # type: ignore[valid-type]
    async def list_page(
        repo: Repo,
        filters: Filters = [],  # noqa: B006 - FastAPI copies query defaults
        sort: Sort = None,
        page: Annotated[int, Query(ge=1)] = 1,
        page_size: Annotated[int, Query(ge=1, le=1000)] = 20,
    ) -> Any:
        return await repo.search(
            parse_filters(filters), sort=parse_sort(sort), page=page, page_size=page_size
        )

    @router.get("/keyset", response_model=CursorPageOut[read])  # type: ignore[valid-type]
    async def keyset_page(
        repo: Repo,
        filters: Filters = [],  # noqa: B006
        sort: Sort = None,
        cursor: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    ) -> Any:
        return await repo.keyset_page(
            parse_filters(filters), sort=parse_sort(sort), cursor=cursor, limit=limit
        )

    @router.get("/{key}", response_model=read)
    async def read_one(key: key_type, repo: Repo) -> Any:  # type: ignore[valid-type]
        return await repo.get_by_id(key)

    @router.post("/", status_code=201, response_model=read)
    async def create_one(body: create, repo: Repo) -> Any:  # type: ignore[valid-type]
        return await repo.create(build(repo, body))

    @router.patch("/{key}", response_model=read)
    async def update_one(key: key_type, body: update, repo: Repo) -> Any:  # type: ignore[valid-type]
        current = await repo.get_by_id(key)
        changes = body.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
        return await repo.update(_changed(current, changes))

    @router.delete("/{key}", status_code=204, response_class=Response)
    async def delete_one(key: key_type, repo: Repo) -> None:  # type: ignore[valid-type]
        await repo.delete(key)

    return router

"""A standard CRUD router for one repository (the seed's `create_standard_routes`).

    router = crud_router(
        prefix="/api/v1/posts", repository=repository(PostRepository),
        create=PostCreate, update=PostUpdate, read=PostRead,
    )

Routes: `GET /` (offset page), `GET /keyset` (cursor page), `GET /{id}`, `POST /`
(201 with `Location`), `PATCH /{id}` (only the fields sent; a `version` in the body makes
it an optimistic update), `DELETE /{id}`, and on a table with `deleted_at()`,
`POST /{id}/restore`. Query language: see `filter_language` (`filter=field:op:value`,
repeatable, with `any(...)` / `all(...)` groups) and `sort=-created_at,name`.

No `from __future__ import annotations` here: route signatures use the caller's types,
which FastAPI must see as objects, not strings.
"""

import asyncio
import copy
import logging
import types
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Generic, TypeVar, Union, get_args, get_origin

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, create_model

from ..database import SQLAlchemySession
from ..idempotency import MAX_KEY_LENGTH, IdempotencyKeys, StoredResponse, fingerprint
from ..repository.cursor import MAX_CURSOR_LENGTH
from ..repository.values import python_type_of
from ..settings import DEFAULT
from ..unit_of_work import UnitOfWork
from .dependencies import built_repository_type, database_named, repository_in_unit_of_work
from .dependencies import repository as repository_dependency
from .filter_language import FILTER_PATTERN, parse_filters
from .problems import DATABASE_STATUSES, problem_responses

logger = logging.getLogger("fastapi_building_blocks.fastapi")

T = TypeVar("T")
FILTER_HELP = (
    "field:op:value, repeatable (all must hold). Operators: eq ne lt le gt ge in not_in "
    "like contains startswith is_null between; in, not_in and between take a comma list. "
    "any(a:op:v|b:op:v) holds when one member does, all(...) when every one does; groups "
    r"nest; inside a group write | ( ) \ in a value as \| \( \) \\. "
    "At most 50 filters, 500 characters in a pattern, 1,000 values in a list."
)
#: The query language, as the list routes' OpenAPI description shows it.
QUERY_LANGUAGE = """\
**Filters**: `filter=field:op:value`, repeatable; every filter must hold.

| operator | meaning | value |
| --- | --- | --- |
| `eq` `ne` `lt` `le` `gt` `ge` | comparison | one value |
| `in` `not_in` | one of / none of | a comma list: `status:in:new,open` (at most 1,000) |
| `between` | from .. to, both included | two values: `score:between:10,20` |
| `like` | SQL pattern (`%`, `_`), ignoring ASCII case | text, at most 500 characters |
| `contains` `startswith` | text inside / at the start, the same way | text |
| `is_null` | missing or present | `true` / `false` |

**OR and AND groups**: `any(a:op:v|b:op:v)` holds when one member does, `all(...)` when
every one does; groups nest (4 deep):
`filter=any(first_name:contains:ann|all(is_active:eq:true|last_name:startswith:b))`.
Inside a group write `|`, `(`, `)` and `\\` in a value as `\\|`, `\\(`, `\\)` and `\\\\`.

**Sort**: `sort=-created_at,name` (`-` for descending); the primary key always ends the
order, so pages are stable.

**Limits**: 50 filters (group members count), values checked against their column
(a number the column cannot hold is a 400), unknown fields and operators refused (400,
naming the field). Only the fields the repository allows can be filtered and sorted.
"""
#: The deepest offset page: page x page_size stays within what every backend binds.
MAX_PAGE = 2_000_000
#: Path converters for the key types Starlette can match: a path such as /keyset is then
#: not mistaken for a key (a 405 for PATCH /keyset, not a 422).
_KEY_CONVERTERS = {uuid.UUID: ":uuid", int: ":int"}


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    page_size: int
    total_pages: int


class CursorPageOut(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


def parse_sort(sort: str | None) -> list[str]:
    return [key.strip() for key in sort.split(",") if key.strip()] if sort else []


def _allows_none(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        return type(None) in get_args(annotation)
    return annotation is None or annotation is Any


def _without_nulls(update: type[BaseModel], read: type[BaseModel]) -> type[BaseModel]:
    """The PATCH body: a field may be left out, but not set to null where the resource
    always has a value (its read model says so). Validation then refuses the null at the
    edge, with a 422 naming the field, and the OpenAPI schema says so too.
    """
    fields = read.model_fields
    narrowed: dict[str, Any] = {}
    for name, field in update.model_fields.items():
        kept = [arg for arg in get_args(field.annotation) if arg is not type(None)]
        always_set = name in fields and not _allows_none(fields[name].annotation)
        if _allows_none(field.annotation) and always_set and kept:
            annotation: Any = Union[tuple(kept)] if len(kept) > 1 else kept[0]  # noqa: UP007
            copied = copy.copy(field)
            copied.annotation = annotation
            narrowed[name] = (annotation, copied)
    if not narrowed:
        return update
    return create_model(update.__name__, __base__=update, **narrowed)


def _key_type_of(repository_type: Any) -> type:
    """The Python type of the repository's primary key (uuid.UUID, int, str, ...)."""
    table = getattr(repository_type, "table", None)
    if table is None:
        raise TypeError(
            "crud_router cannot see which repository the dependency builds: pass key_type="
            " (or build the dependency with repository() / repository_in_unit_of_work())"
        )
    (key,) = table.primary_key.columns
    return python_type_of(key) or str


IDEMPOTENCY_HELP = (
    "Any unique string (a UUID): a retry with the same key gets the first response back "
    "and changes nothing; the same key with another request is a 422, and while the first "
    "is still running a 409."
)


def _no_key() -> None:
    """The Idempotency-Key of a router that takes none."""


def _as_response(answer: StoredResponse, *, replayed: bool = False) -> Response:
    headers = {**answer.headers, **({"Idempotent-Replayed": "true"} if replayed else {})}
    if answer.body is None:
        return Response(status_code=answer.status, headers=headers)
    return JSONResponse(answer.body, status_code=answer.status, headers=headers)


def crud_router(
    *,
    prefix: str,
    repository: Any,
    read: type[BaseModel],
    create: type[BaseModel] | None = None,
    update: type[BaseModel] | None = None,
    key_type: type | None = None,
    to_entity: Callable[[Any, BaseModel], Any] | None = None,
    to_changes: Callable[[Any, dict[str, Any]], dict[str, Any]] | None = None,
    tags: list[str | Any] | None = None,
    database: str | None = None,
    writes_in_unit_of_work: bool = False,
    idempotency_keys: IdempotencyKeys | None = None,
) -> APIRouter:
    """Routes for one resource. `repository` is a `Depends` (see `dependencies`), or a
    repository class, built per request on `database` ("default" unless named): the
    router's database is the code's choice. With `writes_in_unit_of_work` (and a class),
    POST, PATCH and DELETE run in a unit of work committed before the response (a
    repository that publishes its changes needs one), and reads stay outside it, free to
    go to a replica. With `idempotency_keys` (and writes in a unit of work) POST, PATCH
    and DELETE take an `Idempotency-Key` header: a retry gets the first response back
    and changes nothing (see `fastapi_building_blocks.idempotency`).

    Without `create` and `update` the routes are read only (list, keyset, read one): a
    projection, or data another service owns. PATCH writes only the fields the body
    names, in one statement (`update_fields`);
    `to_changes(repo, changes)` may apply the domain's rules to them first (as
    `to_entity(repo, body)` builds the entity a POST creates).
    """
    writer = repository
    name = database or DEFAULT
    if idempotency_keys is not None and not writes_in_unit_of_work:
        raise TypeError("idempotency_keys= needs writes_in_unit_of_work=True: the stored "
                        "response commits with the write's effect")  # fmt: skip
    if isinstance(repository, type):
        writer = (
            repository_in_unit_of_work(repository, name) if writes_in_unit_of_work
            else repository_dependency(repository, name)
        )  # fmt: skip
        repository = repository_dependency(repository, name)
    elif database is not None or writes_in_unit_of_work:
        raise TypeError(
            "database= and writes_in_unit_of_work= go with a repository class; "
            "a Depends names its own"
        )
    if (create is None) != (update is None):
        raise TypeError("give create= and update= for the write routes, or neither (read only)")
    router = APIRouter(prefix=prefix, tags=tags)
    repository_type = built_repository_type(repository)
    plural = prefix.rstrip("/").rsplit("/", 1)[-1].replace("-", " ").replace("_", " ")
    one = plural[:-1] if plural.endswith("s") else plural
    key_type = key_type or _key_type_of(repository_type)
    Repo = Annotated[Any, repository]  # noqa: N806 - a type alias
    Writer = Annotated[Any, writer]  # noqa: N806
    KeyHeader = (  # noqa: N806 - only routes that honour the header declare it
        Annotated[str | None, Header(alias="Idempotency-Key", min_length=1,
                                     max_length=MAX_KEY_LENGTH,
                                     description=IDEMPOTENCY_HELP)]
        if idempotency_keys is not None
        else Annotated[None, Depends(_no_key)]
    )  # fmt: skip
    Filters = Annotated[  # noqa: N806
        list[Annotated[str, Query(pattern=FILTER_PATTERN)]],
        Query(alias="filter", description=FILTER_HELP),
    ]
    Sort = Annotated[str | None, Query(description="comma-separated, '-' for descending")]  # noqa: N806

    def build(repo: Any, body: BaseModel) -> Any:
        if to_entity is not None:
            return to_entity(repo, body)
        return type(repo).entity_type(**body.model_dump())

    keyed = f"/{{key{_KEY_CONVERTERS.get(key_type, '')}}}"
    reads = problem_responses(400, 422, *DATABASE_STATUSES)
    by_key = problem_responses(400, 404, 422, *DATABASE_STATUSES)
    writes = problem_responses(400, 409, 422, *DATABASE_STATUSES)

    @router.get(
        "/",
        response_model=PageOut[read],  # type: ignore[valid-type]
        responses=reads,
        summary=f"List {plural}, a page at a time with the total",
        description=QUERY_LANGUAGE,
    )
    async def list_page(
        repo: Repo,
        filters: Filters = [],  # noqa: B006 - FastAPI copies query defaults
        sort: Sort = None,
        page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
        page_size: Annotated[int, Query(ge=1, le=1000)] = 20,
    ) -> Any:
        return await repo.search(
            parse_filters(filters), sort=parse_sort(sort), page=page, page_size=page_size
        )

    @router.get(
        "/keyset",
        response_model=CursorPageOut[read],  # type: ignore[valid-type]
        responses=reads,
        summary=f"List {plural} by cursor: constant cost at any depth",
        description=QUERY_LANGUAGE + "\nPass the `next_cursor` of a page to get the next.",
    )
    async def keyset_page(
        repo: Repo,
        filters: Filters = [],  # noqa: B006
        sort: Sort = None,
        cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    ) -> Any:
        return await repo.keyset_page(
            parse_filters(filters), sort=parse_sort(sort), cursor=cursor, limit=limit
        )

    # Named per router: url_for with a name several routers share finds the first one.
    read_route = f"{prefix}:read_one"

    @router.get(
        keyed, response_model=read, responses=by_key, name=read_route, summary=f"Read a {one}"
    )
    async def read_one(key: key_type, repo: Repo) -> Any:  # type: ignore[valid-type]
        return await repo.get_by_id(key)

    if create is None or update is None:
        return router  # read only: a projection, another service's data
    update = _without_nulls(update, read)

    def answer(
        status: int, entity: Any = None, headers: dict[str, str] | None = None
    ) -> StoredResponse:
        body = (
            None
            if entity is None
            else jsonable_encoder(read.model_validate(entity, from_attributes=True))
        )
        return StoredResponse(status, body, headers or {})

    async def once(
        request: Request,
        repo: Any,
        key: str | None,
        body: bytes,
        write: Callable[[], Awaitable[StoredResponse]],
    ) -> Response:
        """`write`'s response; with an Idempotency-Key, stored with its effect, and a
        retry's answer from the store (see `fastapi_building_blocks.idempotency`).

        The claim takes a connection of its own before the unit of work takes one, the
        commit is made here, and a failure gives the unit of work's connection back
        before the release takes one: the request never holds two at once.
        """
        if idempotency_keys is None or key is None:
            return _as_response(await write())
        keys, session, uow = idempotency_keys, database_named(request, name), repo.session
        request_id = fingerprint(request.method, request.url.path, body)
        owner = uuid.uuid4().hex
        try:
            stored = await keys.claim(session, uow, key, request_id, owner)
            if stored is not None:
                return _as_response(stored, replayed=True)
            written = await write()
            await keys.store(uow, key, written)
            await uow.commit()
        except BaseException:
            # Shielded: a request cut off (cancelled) still gives its claim back.
            await asyncio.shield(_give_back(keys, uow, session, key, owner))
            raise
        return _as_response(written)

    async def _give_back(
        keys: IdempotencyKeys, uow: UnitOfWork, session: SQLAlchemySession, key: str, owner: str
    ) -> None:
        """The unit of work's connection back, then the key. A release that fails is
        logged, never raised: the client hears the request's own error (a 409 stays a
        409, a cancellation stays one), and the key frees itself after `in_flight`, as a
        dead request's does."""
        await uow.rollback()
        try:
            await keys.release(session, key, owner)
        except Exception:
            logger.warning(
                "giving back an Idempotency-Key failed; it is free again after %s",
                keys.in_flight, exc_info=True,
            )  # fmt: skip

    @router.post(
        "/", status_code=201, response_model=read, responses=writes, summary=f"Create a {one}"
    )
    async def create_one(
        body: create,  # type: ignore[valid-type]
        repo: Writer,
        request: Request,
        idempotency_key: KeyHeader = None,  # type: ignore[valid-type]
    ) -> Response:
        async def write() -> StoredResponse:
            created = await repo.create(build(repo, body))
            location = request.url_for(read_route, key=repo.key_of(created))
            return answer(201, created, {"Location": location.path})

        sent = body.model_dump_json().encode()  # type: ignore[attr-defined]
        return await once(request, repo, idempotency_key, sent, write)

    @router.patch(
        keyed,
        response_model=read,
        responses={**by_key, **writes},
        summary=f"Change some fields of a {one}",
        description="Only the fields sent are written. With `version`, the change applies "
        "only if the stored version is still that one (409 otherwise).",
    )
    async def update_one(
        key: key_type,  # type: ignore[valid-type]
        body: update,  # type: ignore[valid-type]
        repo: Writer,
        request: Request,
        idempotency_key: KeyHeader = None,  # type: ignore[valid-type]
    ) -> Response:
        async def write() -> StoredResponse:
            changes = body.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
            if to_changes is not None:
                changes = to_changes(repo, changes)
            return answer(200, await repo.update_fields(key, changes))

        sent = body.model_dump_json(exclude_unset=True).encode()  # type: ignore[attr-defined]
        return await once(request, repo, idempotency_key, sent, write)

    @router.delete(
        keyed,
        status_code=204,
        response_class=Response,
        responses={**by_key, **writes},
        summary=f"Delete a {one}",
    )
    async def delete_one(
        key: key_type,  # type: ignore[valid-type]
        repo: Writer,
        request: Request,
        idempotency_key: KeyHeader = None,  # type: ignore[valid-type]
    ) -> Response:
        async def write() -> StoredResponse:
            await repo.delete(key)
            return answer(204)

        return await once(request, repo, idempotency_key, b"", write)

    if getattr(repository_type, "soft_deletes", False):

        @router.post(
            f"{keyed}/restore",
            response_model=read,
            responses=by_key,
            summary=f"Restore a deleted {one}",
        )
        async def restore_one(key: key_type, repo: Writer) -> Any:  # type: ignore[valid-type]
            return await repo.restore(key)

    return router

"""Per-request access to databases, units of work and repositories.

    Users = Annotated[UserRepository, repository(UserRepository)]            # own transactions
    Work = Annotated[UnitOfWork, Depends(get_unit_of_work, scope="function")]
    Archive = Annotated[EventRepository, repository(EventRepository, database="archive")]

`open_databases(app, {"default": ..., "archive": ...})` names the databases; routes pick
theirs in code (`repository(..., database=...)`, `database(name)`).

A unit of work handed out per request commits when the route returns normally and rolls
back when it raises, before the response is sent: a failed commit is an error response,
never a 200 for data that was not stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Request

from ..database import SQLAlchemySession
from ..unit_of_work import UnitOfWork

DEFAULT = "default"
R = TypeVar("R")


@asynccontextmanager
async def open_databases(
    app: FastAPI,
    databases: dict[str, SQLAlchemySession],
    *,
    revisions: Mapping[str, str | None] | None = None,
) -> AsyncIterator[None]:
    """Connect every database for the app's lifetime; use inside the app's lifespan.

    `revisions` names the migration revision each database's schema must be at
    (`migrations.head_revision(alembic_ini)`): readiness fails while one is behind, so
    a forgotten migration is a readiness 503 naming the database, not a 500 per request.
    """
    app.state.expected_revisions = dict(revisions or {})
    opened: list[SQLAlchemySession] = []
    try:
        for session in databases.values():
            await session.connect()
            opened.append(session)
        app.state.databases = databases
        yield
    finally:
        for session in reversed(opened):
            await session.disconnect()


def database_named(request: Request, name: str = DEFAULT) -> SQLAlchemySession:
    """The app's database `name`, as `open_databases` registered it."""
    databases: dict[str, SQLAlchemySession] = request.app.state.databases
    return databases[name]


# Every dependency here is async: FastAPI runs a plain `def` dependency in its thread
# pool, a thread hop on every request. None takes a parameter FastAPI could fill from
# the query string: which database serves a route is the code's choice, never a client's.


async def get_database(request: Request) -> SQLAlchemySession:
    return database_named(request)


async def get_unit_of_work(request: Request) -> AsyncIterator[UnitOfWork]:
    async with UnitOfWork(database_named(request)) as uow:
        yield uow
        await uow.commit()


Database = Annotated[SQLAlchemySession, Depends(get_database)]
Work = Annotated[UnitOfWork, Depends(get_unit_of_work, scope="function")]


def database(name: str) -> Any:
    """`Depends` on the app's database `name`: one app, several databases."""

    async def named(request: Request) -> SQLAlchemySession:
        return database_named(request, name)

    return Depends(named)


def repository(repository_type: Callable[[Any], R], database: str = DEFAULT) -> Any:
    """`Depends` that builds `repository_type` on the app's `database` (own transactions)."""

    async def build(request: Request) -> R:
        return repository_type(database_named(request, database))

    return _depends_building(build, repository_type)


def repository_in_unit_of_work(repository_type: Callable[[Any], R]) -> Any:
    """`Depends` that builds `repository_type` in the request's unit of work."""

    async def build(uow: Work) -> R:
        return repository_type(uow)

    return _depends_building(build, repository_type)


#: Attribute of a repository dependency's function: the repository type it builds, so a
#: router can take the key's type from its table (see `built_repository_type`).
_BUILDS = "fastapi_building_blocks_repository_type"


def _depends_building(build: Callable[..., Any], repository_type: Any) -> Any:
    build.__dict__[_BUILDS] = repository_type
    return Depends(build)


def built_repository_type(dependency: Any) -> Any:
    """The repository type a `repository(...)` / `repository_in_unit_of_work(...)`
    dependency builds; None for a dependency of the service's own."""
    return getattr(getattr(dependency, "dependency", None), _BUILDS, None)

"""Per-request access to databases, units of work and repositories.

    Users = Annotated[UserRepository, repository(UserRepository)]            # own transactions
    Work = Annotated[UnitOfWork, Depends(get_unit_of_work, scope="function")]
    Archive = Annotated[EventRepository, repository(EventRepository, database="archive")]
    ArchiveWork = Annotated[UnitOfWork, unit_of_work("archive")]

`open_databases(app, DatabasesSettings())` opens every database the environment names
(or `open_databases(app, {"default": ..., "archive": ...})`); routes pick theirs in code
(`repository(..., database=...)`, `database(name)`, `unit_of_work(name)`), never from
the request. A name a route uses that is not configured stops the app at startup.

A unit of work handed out per request commits when the route returns normally and rolls
back when it raises, before the response is sent: a failed commit is an error response,
never a 200 for data that was not stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from functools import cache
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant

from ..database import SQLAlchemySession
from ..errors import ConfigurationError
from ..settings import DEFAULT, DatabasesSettings
from ..unit_of_work import UnitOfWork

R = TypeVar("R")
#: Attributes of the dependency functions made here: the database a dependency uses, and
#: the repository type it builds (a router takes the key's type from its table).
_USES = "fastapi_building_blocks_database"
_BUILDS = "fastapi_building_blocks_repository_type"


@asynccontextmanager
async def open_databases(
    app: FastAPI,
    databases: Mapping[str, SQLAlchemySession] | DatabasesSettings,
    *,
    revisions: Mapping[str, str | None] | None = None,
) -> AsyncIterator[None]:
    """Connect every database for the app's lifetime; use inside the app's lifespan.

    Before connecting, every database name the app's routes use must be configured: a
    missing one is a ConfigurationError naming it and the route, not a 500 per request.
    `revisions` names the migration revision each database's schema must be at
    (`migrations.head_revision(alembic_ini)`): readiness fails while one is behind.
    """
    sessions = databases.sessions() if isinstance(databases, DatabasesSettings) else databases
    missing = {
        f"{name!r} (used by {path})" for name, path in databases_used(app) if name not in sessions
    }
    if missing:
        configured = ", ".join(sorted(sessions)) or "none"
        raise ConfigurationError(
            f"database {', '.join(sorted(missing))} is not configured (configured: "
            f"{configured}); set DATABASES__<name>__URL, or DATABASE_URL for 'default'"
        )
    app.state.expected_revisions = dict(revisions or {})
    opened: list[SQLAlchemySession] = []
    try:
        for session in sessions.values():
            await session.connect()
            opened.append(session)
        app.state.databases = dict(sessions)
        yield
    finally:
        for session in reversed(opened):
            await session.disconnect()


def databases_used(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(database name, route path) for every database the app's routes depend on."""

    def names(dependant: Dependant) -> Iterator[str]:
        for dependency in dependant.dependencies:
            name = getattr(dependency.call, _USES, None)
            if name is not None:
                yield name
            yield from names(dependency)

    for route in app.routes:
        dependant = getattr(route, "dependant", None)
        if dependant is not None:
            for name in names(dependant):
                yield name, getattr(route, "path", "?")


def database_named(request: Request, name: str = DEFAULT) -> SQLAlchemySession:
    """The app's database `name`, as `open_databases` registered it."""
    databases: dict[str, SQLAlchemySession] = request.app.state.databases
    return databases[name]


def _uses(function: Callable[..., Any], database: str, builds: Any = None) -> Any:
    function.__dict__[_USES] = database
    if builds is not None:
        function.__dict__[_BUILDS] = builds
    return function


# Every dependency here is async: FastAPI runs a plain `def` dependency in its thread
# pool, a thread hop on every request. None takes a parameter FastAPI could fill from
# the query string: which database serves a route is the code's choice, never a client's.


async def get_database(request: Request) -> SQLAlchemySession:
    return database_named(request)


async def get_unit_of_work(request: Request) -> AsyncIterator[UnitOfWork]:
    async with UnitOfWork(database_named(request)) as uow:
        yield uow
        await uow.commit()


_uses(get_database, DEFAULT)
_uses(get_unit_of_work, DEFAULT)
Database = Annotated[SQLAlchemySession, Depends(get_database)]
Work = Annotated[UnitOfWork, Depends(get_unit_of_work, scope="function")]


def database(name: str) -> Any:
    """`Depends` on the app's database `name`: one app, several databases."""

    async def named(request: Request) -> SQLAlchemySession:
        return database_named(request, name)

    return Depends(_uses(named, name))


def unit_of_work(name: str = DEFAULT) -> Any:
    """`Depends` on a unit of work on the app's database `name`, committed before the
    response is sent (as `Work` is on "default")."""
    return Depends(_unit_of_work_on(name), scope="function")


@cache  # one dependency per database: FastAPI then gives a request one unit of work on it
def _unit_of_work_on(name: str) -> Callable[[Request], AsyncIterator[UnitOfWork]]:
    if name == DEFAULT:
        return get_unit_of_work

    async def named(request: Request) -> AsyncIterator[UnitOfWork]:
        async with UnitOfWork(database_named(request, name)) as uow:
            yield uow
            await uow.commit()

    return _uses(named, name)  # type: ignore[no-any-return]


def repository(repository_type: Callable[[Any], R], database: str = DEFAULT) -> Any:
    """`Depends` that builds `repository_type` on the app's `database` (own transactions)."""

    async def build(request: Request) -> R:
        return repository_type(database_named(request, database))

    return Depends(_uses(build, database, repository_type))


def repository_in_unit_of_work(repository_type: Callable[[Any], R], database: str = DEFAULT) -> Any:
    """`Depends` that builds `repository_type` in the request's unit of work on
    `database`: repositories on the same database share it, and its one transaction."""
    # The Depends as a default, evaluated here: an annotation naming the local `work`
    # would stay a string this module's globals cannot resolve.
    in_work = Depends(_unit_of_work_on(database), scope="function")

    async def build(uow: UnitOfWork = in_work) -> R:
        return repository_type(uow)

    return Depends(_uses(build, database, repository_type))


def built_repository_type(dependency: Any) -> Any:
    """The repository type a `repository(...)` / `repository_in_unit_of_work(...)`
    dependency builds; None for a dependency of the service's own."""
    return getattr(getattr(dependency, "dependency", None), _BUILDS, None)

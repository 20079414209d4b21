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

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Request

from ..database import SQLAlchemySession
from ..unit_of_work import UnitOfWork

DEFAULT = "default"
R = TypeVar("R")


@asynccontextmanager
async def open_databases(
    app: FastAPI, databases: dict[str, SQLAlchemySession]
) -> AsyncIterator[None]:
    """Connect every database for the app's lifetime; use inside the app's lifespan."""
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

    return Depends(build)


def repository_in_unit_of_work(repository_type: Callable[[Any], R]) -> Any:
    """`Depends` that builds `repository_type` in the request's unit of work."""

    async def build(uow: Work) -> R:
        return repository_type(uow)

    return Depends(build)

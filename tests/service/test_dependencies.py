"""One app, several databases: each route reads the database its code names, and no
request can choose another.

No `from __future__ import annotations`: the routes are local, and FastAPI must see
their annotations as objects.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

import httpx
import pytest
from fastapi import FastAPI

from fastapi_building_blocks import SQLAlchemySession
from fastapi_building_blocks.fastapi import (
    Database,
    database,
    install_problem_handlers,
    open_databases,
    repository,
)
from tests.schema import Parent, SQLParents, schema


async def database_with(path: Path, label: str) -> SQLAlchemySession:
    session = SQLAlchemySession(f"sqlite+aiosqlite:///{path}")
    async with session.transaction() as connection:
        await connection.run_sync(schema.create_all)
    await SQLParents(session).create(Parent(label=label))
    await session.disconnect()
    return session


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    databases = {
        "default": await database_with(tmp_path / "main.db", "in default"),
        "archive": await database_with(tmp_path / "archive.db", "in archive"),
    }

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_databases(app, databases):
            yield

    app = FastAPI(lifespan=lifespan)
    install_problem_handlers(app)
    Main = Annotated[SQLParents, repository(SQLParents)]  # noqa: N806 - type aliases
    Archive = Annotated[SQLParents, repository(SQLParents, database="archive")]  # noqa: N806
    ArchiveDatabase = Annotated[SQLAlchemySession, database("archive")]  # noqa: N806

    @app.get("/main")
    async def main(parents: Main) -> list[str]:
        return [parent.label for parent in await parents.list()]

    @app.get("/archive")
    async def archive(parents: Archive) -> list[str]:
        return [parent.label for parent in await parents.list()]

    @app.get("/names")
    async def names(default: Database, archive: ArchiveDatabase) -> list[str | None]:
        return [default.database_name, archive.database_name]

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def test_each_route_reads_the_database_its_code_names(client: httpx.AsyncClient) -> None:
    assert (await client.get("/main")).json() == ["in default"]
    assert (await client.get("/archive")).json() == ["in archive"]
    default, archive = (await client.get("/names")).json()
    assert default != archive


@pytest.mark.parametrize("query", ["name=archive", "database=archive", "name=nope"])
async def test_the_query_string_cannot_pick_a_database(
    client: httpx.AsyncClient, query: str
) -> None:
    answer = await client.get(f"/main?{query}")

    assert answer.status_code == 200
    assert answer.json() == ["in default"]

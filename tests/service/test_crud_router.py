"""crud_router on a repository of any key type: the key's type comes from the table."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import Depends, FastAPI
from pydantic import BaseModel

from fastapi_building_blocks import SQLAlchemySession
from fastapi_building_blocks.fastapi import (
    crud_router,
    install_problem_handlers,
    open_databases,
    repository,
)
from tests.backends import SQL_BACKENDS
from tests.conftest import backend_url
from tests.schema import SQLParents, parents, schema


class ParentIn(BaseModel):
    label: str


class ParentOut(BaseModel):
    id: int
    label: str


def parents_app(url: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_databases(app, {"default": SQLAlchemySession(url)}):
            yield

    app = FastAPI(lifespan=lifespan)
    install_problem_handlers(app)
    app.include_router(
        crud_router(
            prefix="/parents",
            repository=repository(SQLParents),
            create=ParentIn,
            update=ParentIn,
            read=ParentOut,
        )
    )
    return app


@pytest.fixture(params=SQL_BACKENDS)
async def client(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    url = backend_url(request.param, tmp_path)
    session = SQLAlchemySession(url)
    async with session.transaction() as connection:
        await connection.run_sync(schema.create_all)
        await connection.execute(schema.tables["children"].delete())
        await connection.execute(parents.delete())
    await session.disconnect()
    app = parents_app(url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def test_an_integer_key_is_read_from_the_path_as_an_integer(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post("/parents/", json={"label": "first"})
    key = created.json()["id"]

    found = await client.get(f"/parents/{key}")
    missing = await client.get(f"/parents/{key + 1000}")

    assert (found.status_code, found.json()) == (200, {"id": key, "label": "first"})
    assert missing.status_code == 404


async def test_a_created_resource_says_where_it_lives(client: httpx.AsyncClient) -> None:
    created = await client.post("/parents/", json={"label": "located"})

    assert created.status_code == 201
    assert created.headers["Location"] == f"/parents/{created.json()['id']}"
    assert (await client.get(created.headers["Location"])).json()["label"] == "located"


async def test_a_key_of_the_wrong_type_is_not_a_route(client: httpx.AsyncClient) -> None:
    response = await client.get("/parents/not-a-number")

    assert response.status_code in (404, 405)
    assert response.headers["content-type"].startswith("application/problem+json")


def test_a_dependency_of_the_services_own_needs_the_key_type_named() -> None:
    async def own() -> SQLParents:
        raise NotImplementedError

    with pytest.raises(TypeError, match="key_type"):
        crud_router(
            prefix="/p", repository=Depends(own), create=ParentIn, update=ParentIn, read=ParentOut
        )

"""Whatever goes wrong, a client gets problem+json and never a traceback or a secret."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import FastAPI, Query

from fastapi_building_blocks import SQLAlchemySession
from fastapi_building_blocks.fastapi import install_problem_handlers
from tests.schema import SQLParents

SECRET = "hunter2-secret"


def client_for(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_an_unexpected_error_is_a_500_without_traceback_or_detail() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError(f"connection string with {SECRET}")

    async with client_for(app) as client:
        response = await client.get("/boom")

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert SECRET not in response.text
    assert "Traceback" not in response.text
    assert response.json()["detail"] == "The request could not be completed."


async def test_an_unreachable_database_is_a_503_with_retry_after() -> None:
    app = FastAPI()
    install_problem_handlers(app)
    session = SQLAlchemySession(f"postgresql+asyncpg://fbb:{SECRET}@127.0.0.1:1/fbb_test")

    @app.get("/parents")
    async def parents() -> int:
        return await SQLParents(session).count()

    async with client_for(app) as client:
        response = await client.get("/parents")
    await session.disconnect()

    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["error"] == "DatabaseUnavailableError"
    assert SECRET not in response.text


async def test_an_unknown_route_is_a_404_problem() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    async with client_for(app) as client:
        response = await client.get("/nowhere")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_path_or_query_past_the_bound_is_a_414_problem_that_openapi_declares() -> None:
    app = FastAPI()
    install_problem_handlers(app, max_target_bytes=1_000)
    reached: list[str] = []

    @app.get("/items/{key}")
    async def item(key: str, q: str = "") -> str:
        reached.append(key)
        return key

    async with client_for(app) as client:
        long_query = await client.get("/items/a", params={"q": "x" * 1_000})
        long_path = await client.get(f"/items/{'x' * 1_000}")
        within = await client.get("/items/a", params={"q": "x" * 900})
        declared = (await client.get("/openapi.json")).json()

    for response in (long_query, long_path):
        assert response.status_code == 414
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == "the request target exceeds 1000 bytes"
    assert within.status_code == 200
    assert reached == ["a"]  # the refused ones reached no route
    problem = declared["paths"]["/items/{key}"]["get"]["responses"]["414"]
    assert problem["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }


async def test_a_single_valued_parameter_sent_twice_is_a_422_and_a_list_one_is_not() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/tags/latest")
    async def latest(tag: Annotated[list[str], Query()], limit: int = 5) -> list[str]:
        return [*tag, str(limit)]

    @app.get("/tags/{name}")
    async def one(name: str, limit: Annotated[list[int], Query()]) -> list[int]:
        return limit

    async with client_for(app) as client:  # /tags/latest fits /tags/{name} too: it is served
        twice = await client.get(
            "/tags/latest", params=[("tag", "a"), ("limit", "1"), ("limit", "2")]
        )
        tags = await client.get("/tags/latest", params=[("tag", "a"), ("tag", "b"), ("limit", "1")])
        templated = await client.get("/tags/x", params=[("limit", "1"), ("limit", "2")])

    assert twice.status_code == 422
    assert twice.headers["content-type"] == "application/problem+json"
    assert twice.json()["errors"] == [
        {"loc": ["query", "limit"], "msg": "given more than once; it takes one value",
         "type": "repeated_parameter"}
    ]  # fmt: skip
    assert tags.json() == ["a", "b", "1"]
    assert templated.json() == [1, 2]  # /tags/{name} takes a list of limits

"""The API answers as a client sees it: create, read back, readiness."""

from __future__ import annotations

import httpx
from sqlalchemy import text

from fastapi_building_blocks import SQLAlchemySession

NEW_USER = {"first_name": "Ada", "last_name": "Lovelace", "email": "Ada@Example.com",
            "username": "ada"}  # fmt: skip


async def test_a_created_user_can_be_read_back_where_the_response_says(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post("/api/v1/users/", json=NEW_USER)
    read = await client.get(created.headers["Location"])

    assert created.status_code == 201
    assert read.status_code == 200
    assert read.json()["email"] == "ada@example.com"


async def test_each_resource_says_where_its_new_rows_live(client: httpx.AsyncClient) -> None:
    author = (await client.post("/api/v1/users/", json=NEW_USER)).json()
    created = await client.post("/api/v1/posts/", json={"author_id": author["id"], "title": "Hi"})

    assert created.headers["Location"] == f"/api/v1/posts/{created.json()['id']}"
    assert (await client.get(created.headers["Location"])).json()["title"] == "Hi"


async def test_the_service_is_ready_once_both_databases_are_migrated(
    client: httpx.AsyncClient,
) -> None:
    ready = await client.get("/health/ready")

    assert ready.status_code == 200
    assert {name: db["status"] for name, db in ready.json()["databases"].items()} == {
        "default": "ok",
        "analytics": "ok",
    }


async def test_page_views_live_in_the_analytics_database(
    client: httpx.AsyncClient, analytics_url: str
) -> None:
    created = await client.post("/api/v1/page-views/", json={"path": "/pricing"})
    listed = await client.get("/api/v1/page-views/", params={"filter": "path:eq:/pricing"})

    stored = SQLAlchemySession(analytics_url)
    async with stored.connection() as connection:
        paths = (await connection.execute(text("SELECT path FROM page_views"))).scalars().all()
    await stored.disconnect()
    assert created.status_code == 201
    assert [view["path"] for view in listed.json()["items"]] == ["/pricing"]
    assert paths == ["/pricing"]


async def test_a_bad_request_is_a_problem_document(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/users/", params={"filter": "password:eq:x"})

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")

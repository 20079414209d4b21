"""The API answers as a client sees it: create, read back, readiness."""

from __future__ import annotations

import httpx

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


async def test_the_service_is_ready_once_migrated(client: httpx.AsyncClient) -> None:
    ready = await client.get("/health/ready")

    assert ready.json()["databases"]["default"]["status"] == "ok"


async def test_a_bad_request_is_a_problem_document(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/users/", params={"filter": "password:eq:x"})

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")

"""The example service's users API on every SQL backend."""

from __future__ import annotations

import uuid

import httpx

ALICE = {"first_name": "Alice", "last_name": "Test", "email": "alice@test.com", "username": "alice"}


async def test_a_created_user_can_be_read_back_and_listed(client: httpx.AsyncClient) -> None:
    created = await client.post("/api/v1/users/", json=ALICE)

    assert created.status_code == 201
    user = created.json()
    assert (await client.get(f"/api/v1/users/{user['id']}")).json() == user
    listing = (await client.get("/api/v1/users/")).json()
    assert listing["items"] == [user]
    assert listing["total"] == 1


async def test_a_duplicate_email_is_a_409_problem_naming_the_field(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/api/v1/users/", json=ALICE)

    duplicate = await client.post(
        "/api/v1/users/", json={**ALICE, "username": "other", "email": "ALICE@test.com"}
    )

    assert duplicate.status_code == 409
    assert duplicate.headers["content-type"] == "application/problem+json"
    assert duplicate.json()["fields"] == ["email"]
    assert (await client.get("/api/v1/users/")).json()["total"] == 1


async def test_an_unknown_user_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/api/v1/users/{uuid.uuid4()}")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_an_invalid_body_is_a_422_problem(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/users/", json={**ALICE, "email": "not-an-email"})

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "email"]


async def test_health_pings_the_database(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}

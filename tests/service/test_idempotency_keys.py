"""Idempotency-Key on the example's writes: a retry gets the first response and changes
nothing; the same key with another request is a 422; while the first runs, a 409."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select, update

from example_service.app.api.users import IDEMPOTENCY_KEYS
from example_service.app.infrastructure.tables import idempotency_keys, users
from fastapi_building_blocks import SQLAlchemySession
from tests.service.test_users_api import person


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


async def stored_users(client: httpx.AsyncClient) -> int:
    session: SQLAlchemySession = client.app.state.databases["default"]  # type: ignore[attr-defined]
    async with session.connection() as connection:
        return int((await connection.execute(select(func.count()).select_from(users))).scalar_one())


async def test_a_retry_gets_the_first_response_and_creates_nothing(
    client: httpx.AsyncClient,
) -> None:
    first = await client.post("/api/v1/users/", json=person(1), headers=keyed("k-1"))
    retry = await client.post("/api/v1/users/", json=person(1), headers=keyed("k-1"))

    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["Location"] == first.headers["Location"]
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert await stored_users(client) == 1


async def test_the_same_key_with_another_body_is_a_422(client: httpx.AsyncClient) -> None:
    await client.post("/api/v1/users/", json=person(1), headers=keyed("k-2"))
    other = await client.post("/api/v1/users/", json=person(2), headers=keyed("k-2"))

    assert other.status_code == 422
    assert other.headers["content-type"].startswith("application/problem+json")
    assert other.json()["error"] == "IdempotencyKeyReusedError"
    assert await stored_users(client) == 1


async def test_a_failed_write_gives_its_key_back(client: httpx.AsyncClient) -> None:
    await client.post("/api/v1/users/", json=person(1))
    duplicate = await client.post("/api/v1/users/", json=person(1), headers=keyed("k-3"))
    after_fix = await client.post(
        "/api/v1/users/", json=person(1, username="someone_else", email="x@example.com"),
        headers=keyed("k-3"),
    )  # fmt: skip

    assert duplicate.status_code == 409
    assert after_fix.status_code == 201  # another body, but the failed attempt kept nothing


async def test_patch_and_delete_take_keys_too(client: httpx.AsyncClient) -> None:
    created = (await client.post("/api/v1/users/", json=person(1))).json()
    path = f"/api/v1/users/{created['id']}"
    change = {"first_name": "Once", "version": 1}

    patched = [await client.patch(path, json=change, headers=keyed("p-1")) for _ in range(2)]
    deleted = [await client.delete(path, headers=keyed("d-1")) for _ in range(2)]

    assert [r.status_code for r in patched] == [200, 200]  # no 409 for a stale version
    assert patched[1].json()["version"] == 2
    assert [r.status_code for r in deleted] == [204, 204]  # no 404 the second time


async def test_concurrent_requests_with_one_key_make_one_row(client: httpx.AsyncClient) -> None:
    answers = await asyncio.gather(
        *(client.post("/api/v1/users/", json=person(7), headers=keyed("k-c")) for _ in range(8))
    )

    statuses = sorted(response.status_code for response in answers)
    assert set(statuses) <= {201, 409}
    assert 201 in statuses
    assert await stored_users(client) == 1


async def test_an_expired_key_starts_afresh(client: httpx.AsyncClient) -> None:
    await client.post("/api/v1/users/", json=person(1), headers=keyed("k-old"))
    session: SQLAlchemySession = client.app.state.databases["default"]  # type: ignore[attr-defined]
    async with session.transaction() as connection:  # as if a day had passed
        past = datetime.now(UTC) - timedelta(seconds=1)
        await connection.execute(update(idempotency_keys).values(expires_at=past))

    again = await client.post("/api/v1/users/", json=person(2), headers=keyed("k-old"))

    assert again.status_code == 201  # another body, yet no 422: the old key is gone
    assert "Idempotent-Replayed" not in again.headers
    assert await IDEMPOTENCY_KEYS.purge_expired(session) == 0  # taken over, not expired
    assert await stored_users(client) == 2

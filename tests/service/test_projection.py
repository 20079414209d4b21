"""Users written in the default database reach the analytics database through the
outbox, with the relay running in the service's lifespan: creates, updates and deletes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx

from tests.service.test_users_api import person

SETTLE_SECONDS = 10.0


async def eventually(check: Callable[[], Awaitable[bool]]) -> bool:
    deadline = asyncio.get_running_loop().time() + SETTLE_SECONDS
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.05)
    return False


async def test_creates_updates_and_deletes_reach_the_analytics_projection(
    client: httpx.AsyncClient,
) -> None:
    ada = (await client.post("/api/v1/users/", json=person(1))).json()
    bob = (await client.post("/api/v1/users/", json=person(2))).json()
    await client.patch(f"/api/v1/users/{ada['id']}", json={"first_name": "Augusta", "version": 1})
    await client.delete(f"/api/v1/users/{bob['id']}")

    async def projected() -> bool:
        page = (await client.get("/api/v1/analytics/users/")).json()
        return bool(page["total"] == 1 and page["items"][0]["full_name"].startswith("Augusta"))

    assert await eventually(projected)
    one = (await client.get(f"/api/v1/analytics/users/{ada['id']}")).json()
    assert one["source_version"] == 2
    filtered = await client.get(
        "/api/v1/analytics/users/", params={"filter": "username:eq:user002"}
    )
    assert filtered.json()["total"] == 0
    ready = (await client.get("/health/ready")).json()
    assert ready["outbox"][0]["dead"] == 0

"""Requests that race for one row, on every SQL backend: exactly one wins, every other
gets the typed answer for losing, and what is stored is the winner's alone."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable

import httpx

from tests.service.test_users_api import USERS, create, person

RACERS = 20


async def statuses(requests: list[Awaitable[httpx.Response]]) -> Counter[int]:
    return Counter(response.status_code for response in await asyncio.gather(*requests))


async def test_creates_of_one_username_store_one_user(client: httpx.AsyncClient) -> None:
    bodies = [person(1, email=f"racer{n}@example.com") for n in range(RACERS)]

    answers = await statuses([client.post(USERS, json=body) for body in bodies])
    stored = (await client.get(USERS, params={"filter": "username:eq:user001"})).json()

    assert answers == {201: 1, 409: RACERS - 1}
    assert stored["total"] == 1


async def test_changes_from_one_version_apply_once(client: httpx.AsyncClient) -> None:
    user = await create(client, person(1))
    path = f"{USERS}{user['id']}"
    changes = [{"version": 1, "first_name": f"Racer{n}"} for n in range(RACERS)]

    answers = await statuses([client.patch(path, json=change) for change in changes])
    stored = (await client.get(path)).json()

    assert answers == {200: 1, 409: RACERS - 1}
    assert stored["version"] == 2
    assert stored["first_name"].startswith("Racer")


async def test_deletes_of_one_row_succeed_once(client: httpx.AsyncClient) -> None:
    user = await create(client, person(1))
    path = f"{USERS}{user['id']}"

    answers = await statuses([client.delete(path) for _ in range(RACERS)])

    assert answers == {204: 1, 404: RACERS - 1}
    assert (await client.get(path)).status_code == 404

"""Idempotency-Key on the example's writes: a retry gets the first response and changes
nothing; the same key with another request is a 422; while the first runs, a 409."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
from pydantic import SecretStr
from sqlalchemy import func, select, text, update

from example_service.app.api.users import IDEMPOTENCY_KEYS
from example_service.app.infrastructure.tables import idempotency_keys, users
from example_service.app.settings import Settings
from fastapi_building_blocks import SQLAlchemySession
from fastapi_building_blocks.settings import NamedDatabaseSettings
from tests.service.conftest import analytics_url_for, empty_tables, serving
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


def on_a_small_pool(service_url: str, connections: int) -> Settings:
    """The example's settings with `connections` pooled connections to its database and
    no relay (which would take one): a request that needs two at once waits 2 s, then
    fails with 503."""
    small = NamedDatabaseSettings(pool_size=connections, max_overflow=0, pool_timeout=2)
    analytics = NamedDatabaseSettings(url=SecretStr(analytics_url_for(service_url)))
    return Settings(
        database_url=SecretStr(service_url), databases={"default": small, "analytics": analytics},
        telemetry=False, json_logs=False, run_relay=False,
    )  # fmt: skip


async def test_a_keyed_write_holds_one_pooled_connection_at_a_time(service_url: str) -> None:
    """The key is claimed before the unit of work takes its connection, and given back
    after the unit of work gave its own back: on a pool of one, keyed writes succeed,
    fail and replay as unkeyed ones do."""
    await empty_tables(service_url)
    async with serving(on_a_small_pool(service_url, connections=1)) as client:
        first = await client.post("/api/v1/users/", json=person(1), headers=keyed("one-1"))
        replay = await client.post("/api/v1/users/", json=person(1), headers=keyed("one-1"))
        duplicate = await client.post("/api/v1/users/", json=person(1), headers=keyed("one-2"))
        fixed = person(1, username="another", email="another@example.com")
        after_fix = await client.post("/api/v1/users/", json=fixed, headers=keyed("one-2"))
        path = f"/api/v1/users/{first.json()['id']}"
        patched = await client.patch(path, json={"version": 1, "first_name": "P"},
                                     headers=keyed("one-3"))  # fmt: skip
        deleted = await client.delete(path, headers=keyed("one-4"))

        assert (first.status_code, replay.status_code) == (201, 201)
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert duplicate.status_code == 409, duplicate.text
        assert after_fix.status_code == 201, after_fix.text
        assert (patched.status_code, deleted.status_code) == (200, 204)
        assert await stored_users(client) == 1


async def test_concurrent_keyed_writes_beyond_the_pool_wait_their_turn(service_url: str) -> None:
    """Each request holds one connection at a time, so requests beyond the pool wait for
    a free one and none waits for a second while holding a first (which, with every
    connection held so, would wait for the pool's timeout)."""
    await empty_tables(service_url)
    async with serving(on_a_small_pool(service_url, connections=2)) as client:
        answers = await asyncio.gather(*(
            client.post("/api/v1/users/", json=person(n), headers=keyed(f"many-{n}"))
            for n in range(8)
        ))  # fmt: skip

        assert [answer.status_code for answer in answers] == [201] * 8
        assert await stored_users(client) == 8


#: A trigger that refuses every DELETE of a key, per backend: the release then fails.
REFUSE_RELEASE = {
    "postgresql": [
        "CREATE FUNCTION refuse_release() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN RAISE EXCEPTION 'no release'; END $$",
        "CREATE TRIGGER refuse_release BEFORE DELETE ON idempotency_keys"
        " FOR EACH ROW EXECUTE FUNCTION refuse_release()",
    ],
    "mysql": [
        "CREATE TRIGGER refuse_release BEFORE DELETE ON idempotency_keys FOR EACH ROW"
        " SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'no release'",
    ],
    "sqlite": [
        "CREATE TRIGGER refuse_release BEFORE DELETE ON idempotency_keys"
        " BEGIN SELECT RAISE(ABORT, 'no release'); END",
    ],
}
ALLOW_RELEASE = {
    "postgresql": [
        "DROP TRIGGER refuse_release ON idempotency_keys",
        "DROP FUNCTION refuse_release",
    ],
    "mysql": ["DROP TRIGGER refuse_release"],
    "sqlite": ["DROP TRIGGER refuse_release"],
}


async def test_a_key_that_cannot_be_given_back_leaves_the_failed_writes_own_answer(
    client: httpx.AsyncClient,
) -> None:
    """The write fails (a duplicate, 409) and so does the release: the client still hears
    the 409, and the key frees itself after `in_flight` as a dead request's would.
    (SQLite claims inside the unit of work and has nothing to release.)"""
    session: SQLAlchemySession = client.app.state.databases["default"]  # type: ignore[attr-defined]
    await client.post("/api/v1/users/", json=person(1))
    backend = session.dialect.name
    async with session.transaction() as connection:
        for statement in REFUSE_RELEASE[backend]:
            await connection.execute(text(statement))
    try:
        duplicate = await client.post("/api/v1/users/", json=person(1), headers=keyed("k-stuck"))
    finally:
        async with session.transaction() as connection:
            for statement in ALLOW_RELEASE[backend]:
                await connection.execute(text(statement))

    assert duplicate.status_code == 409, duplicate.text
    assert duplicate.json()["error"] == "UniqueViolationError"
    assert await stored_users(client) == 1


async def test_purging_removes_the_expired_keys_and_keeps_the_others(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/api/v1/users/", json=person(1), headers=keyed("k-expired"))
    await client.post("/api/v1/users/", json=person(2), headers=keyed("k-current"))
    session: SQLAlchemySession = client.app.state.databases["default"]  # type: ignore[attr-defined]
    async with session.transaction() as connection:  # one of them a day old
        past = datetime.now(UTC) - timedelta(seconds=1)
        expire = update(idempotency_keys).where(idempotency_keys.c.key == "k-expired")
        await connection.execute(expire.values(expires_at=past))

    async def keys_left() -> list[str]:
        async with session.connection() as connection:
            rows = await connection.execute(select(idempotency_keys.c.key))
            return sorted(rows.scalars())

    async with IDEMPOTENCY_KEYS.purging(session, every=timedelta(milliseconds=20)):
        for _ in range(250):  # up to 5 s for the first purges
            if await keys_left() == ["k-current"]:
                break
            await asyncio.sleep(0.02)

    assert await keys_left() == ["k-current"]
    assert await stored_users(client) == 2  # the keys go, never what they wrote

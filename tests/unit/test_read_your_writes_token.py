"""The read-your-writes token: a client's writes, carried to its next request."""

from __future__ import annotations

import asyncio
import base64
import contextvars
import json
import time

from fastapi_building_blocks.database.replicas import (
    TOKEN_MAX_AGE_SECONDS,
    Written,
    _written,
    read_your_writes_token,
    restore_read_your_writes,
)


def in_a_request(token: str | None) -> dict[str, Written]:
    """What a request that sent `token` knows of its client's writes."""

    def restore() -> dict[str, Written]:
        restore_read_your_writes(token)
        return dict(_written.get() or {})

    return contextvars.Context().run(restore)


def token_of(document: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


def test_a_request_that_wrote_nothing_hands_back_no_token() -> None:
    assert contextvars.Context().run(read_your_writes_token) is None


def test_the_writes_travel_with_the_token() -> None:
    def write_then_hand_back() -> str | None:
        restore_read_your_writes(None)
        _written.get()["a1b2c3"] = Written("0/3000060", time.time())  # type: ignore[index]
        _written.get()["d4e5f6"] = Written("0-1-20", time.time())  # type: ignore[index]
        return read_your_writes_token()

    token = contextvars.Context().run(write_then_hand_back)

    assert {key: entry.position for key, entry in in_a_request(token).items()} == {
        "a1b2c3": "0/3000060",
        "d4e5f6": "0-1-20",
    }


def test_a_token_that_is_not_one_is_ignored() -> None:
    forged = [
        "not base64 !", "x" * 5000, token_of(["a", "list"]), token_of({"k": "no pair"}),
        token_of({"k": ["'; DROP TABLE users; --", time.time()]}),  # not a position
        token_of({"k": [42, time.time()]}),
    ]  # fmt: skip

    assert [in_a_request(token) for token in forged] == [{}] * len(forged)


def test_writes_older_than_a_minute_are_dropped() -> None:
    old = time.time() - TOKEN_MAX_AGE_SECONDS - 1

    assert in_a_request(token_of({"k": ["0/1", old], "j": ["0/2", time.time()]})).keys() == {"j"}


def test_a_position_unknown_to_the_dialect_travels_as_a_time() -> None:
    restored = in_a_request(token_of({"k": [None, time.time()]}))

    assert restored["k"].position is None


def test_each_request_starts_with_no_writes_of_its_own() -> None:
    async def two_requests() -> list[int]:
        counts = []
        for token in (token_of({"k": ["0/1", time.time()]}), None):
            restore_read_your_writes(token)
            counts.append(len(_written.get() or {}))
        return counts

    assert asyncio.run(two_requests()) == [1, 0]

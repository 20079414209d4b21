"""The answer watch: one timer for many waits, each ended once its bound has passed.

The real servers' side (a server that stops answering) is in
tests/database/test_answer_bound.py; here, what the watch itself promises.
"""

from __future__ import annotations

import asyncio

import pytest

from fastapi_building_blocks.dialects.answer_watch import AnswerWatch

BOUND = 0.05
GUARD_SECONDS = 5


async def wait_for_a_reply_that_never_comes(watch: AnswerWatch) -> list[str]:
    """As a connection does: ending the wait (closing the connection) fails the read.
    What the wait raised, and whether the watch closed it (the guard raises
    TimeoutError too, so the close says who ended it)."""
    reply: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    seen: list[str] = []

    def close() -> None:
        seen.append("closed")
        reply.set_exception(ConnectionResetError("closed by the watch"))

    try:
        await asyncio.wait_for(watch.wait("connection", BOUND, close, reply), GUARD_SECONDS)
    except TimeoutError:
        seen.append("TimeoutError")
    return seen


def test_a_wait_past_its_bound_is_ended_and_raises_timeout_error() -> None:
    seen = asyncio.run(wait_for_a_reply_that_never_comes(AnswerWatch()))

    assert seen == ["closed", "TimeoutError"]


def test_a_reply_in_time_is_returned_and_its_wait_never_ended() -> None:
    ended: list[bool] = []

    async def answered() -> str:
        async def reply() -> str:
            return "row"

        return await AnswerWatch().wait("connection", BOUND, lambda: ended.append(True), reply())

    assert asyncio.run(answered()) == "row"
    assert ended == []


def test_a_failure_of_its_own_is_not_a_timeout() -> None:
    async def refused() -> None:
        async def reply() -> None:
            raise ConnectionRefusedError("refused")

        await AnswerWatch().wait("connection", 60, lambda: None, reply())

    with pytest.raises(ConnectionRefusedError):
        asyncio.run(refused())


def test_a_watch_used_again_from_a_new_event_loop_still_ends_waits() -> None:
    """The first loop closes with the watch's timer still armed on it."""
    watch = AnswerWatch()

    async def answered_in_time() -> None:
        async def reply() -> None:
            return None

        await watch.wait("connection", 60, lambda: None, reply())

    asyncio.run(answered_in_time())
    seen = asyncio.run(wait_for_a_reply_that_never_comes(watch))

    assert seen == ["closed", "TimeoutError"]

"""The answer watch: one timer for many waits, each ended once its bound has passed.

The real servers' side (a server that stops answering) is in
tests/database/test_answer_bound.py; here, what the watch itself promises.
"""

from __future__ import annotations

import asyncio

from fastapi_building_blocks.dialects.answer_watch import AnswerWatch

BOUND = 0.05
GUARD_SECONDS = 5


async def wait_past_the_bound(watch: AnswerWatch) -> bool:
    """A wait the server never answers: whether the watch says it ended it."""
    ended = asyncio.Event()
    watch.start("connection", BOUND, ended.set)
    await asyncio.wait_for(ended.wait(), GUARD_SECONDS)
    return watch.stop("connection")


def test_a_wait_past_its_bound_is_ended_and_the_waiter_is_told() -> None:
    assert asyncio.run(wait_past_the_bound(AnswerWatch())) is True


def test_a_wait_that_was_answered_is_not_one_the_watch_ended() -> None:
    async def answered() -> bool:
        watch = AnswerWatch()
        watch.start("connection", BOUND, lambda: None)
        return watch.stop("connection")

    assert asyncio.run(answered()) is False


def test_a_watch_used_again_from_a_new_event_loop_still_ends_waits() -> None:
    """The first loop closes with the watch's timer still armed on it."""
    watch = AnswerWatch()

    async def answered_in_time() -> None:
        watch.start("connection", 60, lambda: None)
        watch.stop("connection")

    asyncio.run(answered_in_time())
    assert asyncio.run(wait_past_the_bound(watch)) is True

"""One timer for every wait on the driver path, instead of one per statement.

asyncpg bounds each call by its `command_timeout`, arming a timer before the statement
and cancelling it after. Measured here, that costs 13-17 µs a statement (a get by key in
a unit of work takes about 170 µs, the raw driver's own about 140), more than any other
part of the layer. The driver path's statements are instead watched together: each one
notes its deadline (a dict entry), and one timer, armed only while statements are in
flight, looks at them once per tick. A wait past its deadline ends by terminating its
connection, since a reply is somewhere in flight and the connection cannot be used
again, and the caller raises the `TimeoutError` asyncpg's own timer would have raised.
So a bound holds within one tick: a quarter of the shortest bound, at most a second.

Written here because neither asyncpg nor asyncio has a shared deadline for many waits;
every other wait (SQLAlchemy's statements, BEGIN and COMMIT, pings) keeps the driver's
own timer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")

#: The longest tick: how much past its bound a wait may run before it is ended.
MAX_TICK_SECONDS = 1.0


class AnswerWatch:
    """Waits for a server's reply, keyed by the connection that waits (a connection runs
    one statement at a time), each ended once its bound has passed."""

    __slots__ = ("_ended", "_loop", "_tick", "_timer", "_waiting")

    def __init__(self) -> None:
        #: The connection that waits: its deadline, and how to end its wait.
        self._waiting: dict[Any, tuple[float, Callable[[], object]]] = {}
        self._ended: set[Any] = set()
        self._tick = MAX_TICK_SECONDS
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def wait(
        self, connection: Any, bound: float, end: Callable[[], object], reply: Awaitable[T]
    ) -> T:
        """`reply`, awaited for `bound` seconds at most. Past them `end()` is called, which
        must make the wait fail (closing `connection` does), and TimeoutError is raised."""
        self._start(connection, bound, end)
        try:
            result = await reply
        except BaseException as error:
            if self._stop(connection) and isinstance(error, Exception):
                raise TimeoutError(f"no answer within {bound:g} s") from error
            raise
        self._stop(connection)  # True if the reply came just as the bound passed: it stands
        return result

    def _start(self, connection: Any, bound: float, end: Callable[[], object]) -> None:
        if bound < self._tick * 4:
            self._tick = bound / 4
        if self._timer is None or self._loop is not asyncio.get_running_loop():
            self._arm()
        self._waiting[connection] = (time.monotonic() + bound, end)

    def _stop(self, connection: Any) -> bool:
        """The wait is over; True if the watch ended it (its bound passed)."""
        if self._waiting.pop(connection, None) is not None:
            return False
        if connection in self._ended:
            self._ended.discard(connection)
            return True
        return False

    def _arm(self) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop: the last one's waits cannot resume
            self._loop, self._waiting, self._ended = loop, {}, set()
        self._timer = loop.call_later(self._tick, self._look)

    def _look(self) -> None:
        now = time.monotonic()
        past = [c for c, (deadline, _) in self._waiting.items() if now >= deadline]
        ends = [self._waiting.pop(connection)[1] for connection in past]
        self._ended.update(past)
        self._timer = None
        if self._waiting:
            self._arm()
        for end in ends:
            end()

"""aiomysql's connection with a bound on every wait for the server.

aiomysql waits for a reply without end: against a server that stopped answering (frozen,
or cut off behind a TCP session that stays open) a query, a COMMIT, a ping or the
handshake of a new connection waited forever, and the server's own statement timeout
cannot fire then. This subclass bounds each of those waits by `answer_timeout`, as
asyncpg's `command_timeout` does. Past it the socket is closed, since the connection is
somewhere inside a reply, and the caller gets TimeoutError (a handshake: aiomysql's own
"can't connect" error, as for a server that refused).

Written here because aiomysql has no such option (its `connect_timeout` covers the TCP
connect alone). The bound is one per command, not per packet (a page of 50 rows is more
than 50 packets), and every connection's waits share one timer (`AnswerWatch`) instead
of arming one per command.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from pymysql.err import OperationalError

from .aiomysql_replies import BufferedReplies
from .answer_watch import AnswerWatch

T = TypeVar("T")
#: The waits of every connection of the process (each bounded by its own timeout).
_WATCH = AnswerWatch()

#: MySQL's client error for a server that cannot be reached.
CANNOT_CONNECT = 2003


class AnsweringConnection(BufferedReplies):
    answer_timeout: float

    async def _bounded(self, step: Awaitable[T]) -> T:
        return await _WATCH.wait(self, self.answer_timeout, self._abandon, step)

    async def _read_query_result(self, unbuffered: bool = False) -> Any:
        return await self._bounded(super()._read_query_result(unbuffered))

    async def _read_ok_packet(self) -> Any:  # COMMIT, ROLLBACK, ping
        return await self._bounded(super()._read_ok_packet())

    def _abandon(self) -> None:
        """End a wait the server does not answer: the socket is dropped at once (`close()`
        would first send what the server is not reading), so the read fails."""
        if self._writer is not None:
            self._writer.transport.abort()
        self.close()

    async def _connect(self) -> None:
        # Once per connection, and before there is a socket to drop: a timer of its own.
        try:
            async with asyncio.timeout(self.answer_timeout):
                await super()._connect()
        except TimeoutError as error:
            self.close()
            raise OperationalError(
                CANNOT_CONNECT, f"no answer within {self.answer_timeout:g}s"
            ) from error


async def connect(answer_timeout: float, **arguments: Any) -> AnsweringConnection:
    """What `aiomysql.connect` does, with the bounded connection (SQLAlchemy's aiomysql
    dialect takes it as the `async_creator_fn` connect argument)."""
    connection = AnsweringConnection(**arguments)
    connection.answer_timeout = answer_timeout
    await connection._connect()
    return connection

"""A TCP relay in front of a real server that can lose the server's next reply.

The network fault a commit cannot survive cleanly: the request reached the server, the
server did the work and answered, and the answer never came back (a middlebox dropped
the connection). `cut_next_reply()`: the next bytes the server sends are dropped and the
client's connection is closed, while the server's side stays open until the block ends.
`stop_answering()`: from then on the server's replies are dropped and every connection
stays open, as a frozen server's do, until `answer_again()`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import make_url


class ReplyCutter:
    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._cut = False
        self._silent = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._held: list[asyncio.StreamWriter] = []
        self.port = 0

    def cut_next_reply(self) -> None:
        self._cut = True

    def stop_answering(self) -> None:
        self._silent = True

    def answer_again(self) -> None:
        self._silent = False

    async def _relay(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        server_reader, server = await asyncio.open_connection(*self._target)
        self._held.append(server)

        async def upstream() -> None:
            while data := await client_reader.read(65536):
                server.write(data)
                await server.drain()

        async def downstream() -> None:
            while data := await server_reader.read(65536):
                if self._silent:
                    continue
                if self._cut:
                    self._cut = False
                    client.transport.abort()  # the reply is lost with the connection
                    return
                client.write(data)
                await client.drain()

        for pump in (upstream(), downstream()):
            task = asyncio.create_task(pump)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[ReplyCutter]:
        listener = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = listener.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            listener.close()
            for task in list(self._tasks):
                task.cancel()
            for writer in self._held:
                writer.close()
            with contextlib.suppress(Exception):
                await listener.wait_closed()

    def url_for(self, url: str) -> str:
        """`url` with its host and port replaced by this relay's."""
        return (
            make_url(url)
            .set(host="127.0.0.1", port=self.port)
            .render_as_string(hide_password=False)
        )


def cutter_for(url: str) -> ReplyCutter:
    parsed = make_url(url)
    return ReplyCutter(parsed.host or "127.0.0.1", parsed.port or 0)

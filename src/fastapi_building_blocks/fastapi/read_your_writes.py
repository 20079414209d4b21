"""Read-your-writes across requests: a client carries its writes in a header.

Within one request, reads after a write wait for a replica that has it (or use the
primary: `database.replicas`). A client's next request may reach another instance, so
the writes travel with the client: a response to a request that wrote carries a
`Read-Your-Writes` token, and a request that sends it back reads as if it had made those
writes itself. Opt-in, for services with replicas:

    app.add_middleware(ReadYourWritesMiddleware)

The token names no database and grants nothing (see `read_your_writes_token`).
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..database.replicas import read_your_writes_token, restore_read_your_writes

HEADER = "Read-Your-Writes"


class ReadYourWritesMiddleware:
    """Takes up the request's `Read-Your-Writes` token, and hands back the writes so far.

    Pure ASGI, so the request's writes are recorded in the context this middleware
    started: the token is read when the response starts, after the handler ran.
    """

    def __init__(self, app: ASGIApp, header: str = HEADER) -> None:
        self.app = app
        self.header = header

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        restore_read_your_writes(Headers(scope=scope).get(self.header))

        async def with_token(message: Message) -> None:
            if message["type"] == "http.response.start":
                token = read_your_writes_token()
                if token is not None:
                    MutableHeaders(scope=message)[self.header] = token
            await send(message)

        await self.app(scope, receive, with_token)

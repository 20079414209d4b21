"""ASGI middlewares at the edge of every app: bounded request targets and bodies, paths
without control characters, and a 500 that leaves the client's connection usable.

Pure ASGI classes (not `BaseHTTPMiddleware`): they add no task or stream per request.
"""

from __future__ import annotations

import logging
import re

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .problem_body import problem

logger = logging.getLogger("fastapi_building_blocks.fastapi")

#: Request bodies above this many bytes are refused with 413 unless configured otherwise.
DEFAULT_MAX_BODY_BYTES = 1_048_576
#: Request targets (path and query) above this many bytes are refused with 414: past
#: any query the filter language accepts (its own bounds answer 400 first), well within
#: the request head the server is told to buffer (`make run`: 1 MiB).
DEFAULT_MAX_TARGET_BYTES = 65_536


class UnexpectedErrorMiddleware:
    """Any exception no handler took becomes a problem+json 500, and the request ends cleanly.

    Starlette's own last-resort handler (`ServerErrorMiddleware`) re-raises after sending
    its response, so the server closes a keep-alive connection and the client's next
    request on it fails. Here the error is logged with its traceback and stops.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception:
            logger.exception("%s %s failed", scope.get("method"), scope.get("path"))
            if started:  # half a response is out: only closing the connection can end it
                raise
            response = problem(500, "Internal Server Error", "The request could not be completed.")
            await response(scope, receive, send)


class ControlCharacterPathMiddleware:
    """A path with a control character (a newline, NUL) names no resource: 404.

    Starlette matches routes with `$`, which also matches before a trailing newline, so
    `/users/%0A` would otherwise reach the `/users/` routes.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _CONTROL.search(scope.get("path", "")):
            await problem(404, "Not Found", "Not Found")(scope, receive, send)
            return
        await self.app(scope, receive, send)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class TargetSizeLimitMiddleware:
    """Refuses a path and query above `max_bytes` with 414, before any route parses them.

    The HTTP server must let such requests through for this to answer them: uvicorn's
    h11 parser refuses a request head it has not completely received within
    `--h11-max-incomplete-event-size` (16 KiB by default) with a plain-text 400, so a
    long target that arrives in several reads would get that instead. `make run` and
    the Dockerfile raise it to 1 MiB.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_TARGET_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            size = len(scope.get("raw_path") or b"") + len(scope.get("query_string", b""))
            if size > self.max_bytes:
                detail = f"the request target exceeds {self.max_bytes} bytes"
                await problem(414, "URI Too Long", detail)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodySizeLimitMiddleware:
    """Refuses bodies above `max_bytes` with 413, by Content-Length or as they stream in."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._too_large()(scope, receive, send)
            return
        received = 0

        async def counting() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised inside the app's body parsing: FastAPI re-raises HTTPException
                    # as it is, and the problem handlers answer it.
                    raise HTTPException(413, f"the request body exceeds {limit} bytes")
            return message

        await self.app(scope, counting, send)

    def _too_large(self) -> ASGIApp:
        return problem(413, "Content Too Large", f"the request body exceeds {self.max_bytes} bytes")

"""ASGI middlewares at the edge of every app: bounded request targets and bodies, paths
without control characters, parameters given once, and a 500 that leaves the client's
connection usable.

Pure ASGI classes (not `BaseHTTPMiddleware`): they add no task or stream per request.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from typing import Any
from urllib.parse import parse_qsl

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


class RepeatedParameterMiddleware:
    """A query parameter or header the OpenAPI document declares single-valued, sent more
    than once, is a 422: FastAPI would silently keep one of the values (`?page_size=x&
    page_size=7` reads as 7, `Idempotency-Key` twice as the first), so the client's
    request and the one served would differ.

    The operation is found in the same OpenAPI document the clients read, by its path
    template, concrete paths before templated ones as OpenAPI says; not through the
    router, whose matching is FastAPI's private business. Only a request that repeats a
    name pays for the lookup.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._operations: list[tuple[re.Pattern[str], dict[str, _SingleValued]]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            repeated = _repeated_names(scope)
            if repeated:
                declared = self._declared_once(scope)
                given_twice = sorted(repeated & declared.keys())
                if given_twice:
                    errors = [
                        {"loc": [where, declared[where, name]],
                         "msg": "given more than once; it takes one value",
                         "type": "repeated_parameter"}
                        for where, name in given_twice
                    ]  # fmt: skip
                    invalid = problem(
                        422, "Unprocessable Content", "The request is invalid.", errors=errors
                    )
                    await invalid(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    def _declared_once(self, scope: Scope) -> _SingleValued:
        if self._operations is None:
            self._operations = _operations_of(scope["app"].openapi())
        path = scope["path"].removeprefix(scope.get("root_path", "")) or "/"
        method = scope["method"].lower()
        return next(
            (methods.get(method, {}) for template, methods in self._operations
             if template.fullmatch(path)),
            {},
        )  # fmt: skip


#: (where, name as the request carries it) -> the name the OpenAPI document declares.
_SingleValued = dict[tuple[str, str], str]


def _operations_of(
    openapi: dict[str, Any],
) -> list[tuple[re.Pattern[str], dict[str, _SingleValued]]]:
    """Each path's template as a pattern, concrete paths first, with the parameters each
    of its operations takes once."""
    operations = []
    for path, item in openapi.get("paths", {}).items():
        template = re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)))
        methods = {
            method: _single_valued(operation)
            for method, operation in item.items()
            if isinstance(operation, dict)  # not a path-level "parameters" list
        }
        operations.append((template, methods))
    return sorted(operations, key=lambda operation: operation[0].pattern.count("[^/]+"))


def _single_valued(operation: dict[str, Any]) -> _SingleValued:
    return {
        (parameter["in"], _wire_name(parameter)): parameter["name"]
        for parameter in operation.get("parameters", ())
        if parameter.get("in") in ("query", "header")
        and "array" not in _types_of(parameter.get("schema", {}))
    }


def _repeated_names(scope: Scope) -> set[tuple[str, str]]:
    """The query parameters and headers this request names more than once."""
    query = scope.get("query_string", b"")
    names = Counter(
        ("query", name)
        for name, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    ) if b"&" in query else Counter()  # fmt: skip
    names.update(("header", name.decode("latin-1")) for name, _ in scope.get("headers", ()))
    return {name for name, count in names.items() if count > 1}


def _wire_name(parameter: dict[str, Any]) -> str:
    """A parameter's name as the request carries it: headers arrive lower-cased."""
    name: str = parameter["name"]
    return name.lower() if parameter["in"] == "header" else name


def _types_of(schema: dict[str, Any]) -> set[str]:
    """Every JSON type a parameter's schema allows, through `anyOf` / `oneOf`."""
    kind = schema.get("type")
    types = set(kind) if isinstance(kind, list) else {kind} if kind else set()
    for alternative in (*schema.get("anyOf", ()), *schema.get("oneOf", ())):
        types |= _types_of(alternative)
    return types

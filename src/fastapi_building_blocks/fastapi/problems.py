"""Every error response as RFC 9457 `application/problem+json`, and declared as such.

    app = FastAPI()
    install_problem_handlers(app)

Each package error's status follows from its place in the exception tree (see `errors`):
NotFound 404, InvalidFilter 400, Conflict and Concurrency 409, ConstraintViolation 422,
DatabaseUnavailable 503 (with Retry-After), StatementTimeout 504, CommitOutcomeUnknown
503; request validation is 422 (a single-valued parameter sent twice as well), a body
too large 413, a target too long 414, and anything unexpected 500 without a traceback or
driver text in the body. The OpenAPI document says the same: routes list their problem
statuses with `problem_responses(...)`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException
from starlette.routing import Match

from ..errors import (
    CommitOutcomeUnknownError,
    ConcurrencyError,
    ConflictError,
    ConstraintViolationError,
    DatabaseUnavailableError,
    IdempotencyKeyReusedError,
    InvalidFilterError,
    NotFoundError,
    RepositoryError,
    StatementTimeoutError,
)
from .middleware import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_TARGET_BYTES,
    BodySizeLimitMiddleware,
    ControlCharacterPathMiddleware,
    RepeatedParameterMiddleware,
    TargetSizeLimitMiddleware,
    UnexpectedErrorMiddleware,
)
from .problem_body import PROBLEM_JSON, problem, reason

logger = logging.getLogger("fastapi_building_blocks.fastapi")


#: The status of each kind of error; an error takes that of its nearest listed ancestor.
STATUS_BY_ERROR: dict[type[RepositoryError], int] = {
    RepositoryError: 500,
    NotFoundError: 404,
    InvalidFilterError: 400,
    ConflictError: 409,
    ConcurrencyError: 409,
    IdempotencyKeyReusedError: 422,
    ConstraintViolationError: 422,
    DatabaseUnavailableError: 503,
    StatementTimeoutError: 504,
    CommitOutcomeUnknownError: 503,
}

#: What a route that reads or writes the database may answer beyond its own statuses.
DATABASE_STATUSES = (503, 504)


class Problem(BaseModel):
    """An RFC 9457 problem; the extension members say which field or error it was."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    #: The package's exception class, e.g. "UniqueViolationError".
    error: str | None = None
    #: The query parameter or field at fault (400).
    field: str | None = None
    #: The columns a write broke (409, 422).
    fields: list[str] | None = None
    #: Request validation: one entry per invalid part (422).
    errors: list[dict[str, Any]] | None = None


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for the problem statuses a route can answer."""
    return {status: _problem_response(status) for status in statuses}


def _problem_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": reason(status),
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if status == 503:
        response["headers"] = {
            "Retry-After": {"description": "seconds", "schema": {"type": "integer"}}
        }
    return response


def status_of(error: RepositoryError) -> int:
    return next(STATUS_BY_ERROR[kind] for kind in type(error).__mro__ if kind in STATUS_BY_ERROR)


async def _repository_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RepositoryError)
    status = status_of(error)
    if status >= 500:
        logger.error("%s %s failed: %s", request.method, request.url.path, error)
    extensions: dict[str, Any] = {"error": type(error).__name__}
    if isinstance(error, ConstraintViolationError | ConflictError):
        extensions["fields"] = list(error.columns) or None
    if isinstance(error, InvalidFilterError):
        extensions["field"] = error.field
    detail = str(error) if status != 500 else "The request could not be completed."
    response = problem(status, reason(status), detail, **extensions)
    if isinstance(error, DatabaseUnavailableError):
        response.headers["Retry-After"] = str(error.retry_after_seconds)
    return response


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = [
        {"loc": [str(part) for part in item["loc"]], "msg": item["msg"], "type": item["type"]}
        for item in error.errors()
    ]
    return problem(422, "Unprocessable Content", "The request is invalid.", errors=errors)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    response = problem(error.status_code, reason(error.status_code), str(error.detail))
    for name, value in (error.headers or {}).items():
        response.headers[name] = value
    if error.status_code == 405:
        response.headers["Allow"] = ", ".join(_allowed_methods(request))
    return response


#: Methods a 405's Allow header may list (HEAD comes with GET).
_METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route offers at this path: Starlette names only the first route's.

    Each method is matched as the router would match it, so included routers count too.
    """
    routes = request.app.router.routes
    allowed = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]
    return sorted([*allowed, "HEAD"] if "GET" in allowed else allowed)


def _declare_problems(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The app's OpenAPI generator, made to say what the handlers really send.

    FastAPI declares its own 422 body (`HTTPValidationError`, application/json); the
    handlers send a problem. Every operation can get a 414 (a target too long), and
    every one with a body a 400 and a 413.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                responses = operation.setdefault("responses", {})
                if "422" in responses:
                    responses["422"] = _problem_response(422)
                responses.setdefault("414", _problem_response(414))
                if "requestBody" in operation:  # a body that is not JSON, or too large
                    responses.setdefault("400", _problem_response(400))
                    responses.setdefault("413", _problem_response(413))
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = schema
        return schema

    return openapi


def install_problem_handlers(
    app: FastAPI, *, max_body_bytes: int | None = None, max_target_bytes: int | None = None
) -> None:
    """Every error response of `app` becomes problem+json, and its OpenAPI says so.

    `max_body_bytes`: request bodies above it are a 413 (default 1 MiB);
    `max_target_bytes`: a path and query above it are a 414 (default 64 KiB).
    """
    app.add_exception_handler(RepositoryError, _repository_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_middleware(UnexpectedErrorMiddleware)
    app.add_middleware(RepeatedParameterMiddleware)
    app.add_middleware(ControlCharacterPathMiddleware)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=max_body_bytes or DEFAULT_MAX_BODY_BYTES)
    app.add_middleware(
        TargetSizeLimitMiddleware, max_bytes=max_target_bytes or DEFAULT_MAX_TARGET_BYTES
    )
    app.openapi = _declare_problems(app)  # type: ignore[method-assign]

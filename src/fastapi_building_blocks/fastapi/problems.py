"""Every package error as an RFC 9457 `application/problem+json` response.

    app = FastAPI()
    install_problem_handlers(app)

Statuses: NotFound 404, Conflict 409, ConstraintViolation 422, InvalidFilter 400,
Concurrency 409, DatabaseUnavailable 503 (with Retry-After), request validation 422, and
500 for anything unexpected, without a traceback or driver text in the body.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ..errors import (
    ConcurrencyError,
    ConflictError,
    ConstraintViolationError,
    DatabaseUnavailableError,
    InvalidFilterError,
    MultipleResultsFoundError,
    NotFoundError,
    RepositoryError,
)

logger = logging.getLogger("fastapi_building_blocks.fastapi")

PROBLEM_JSON = "application/problem+json"

#: Most specific first: the first matching class decides the status.
_STATUS_BY_ERROR: list[tuple[type[RepositoryError], int, str]] = [
    (NotFoundError, 404, "Not Found"),
    (ConflictError, 409, "Conflict"),
    (ConcurrencyError, 409, "Conflict"),
    (ConstraintViolationError, 422, "Unprocessable Content"),
    (InvalidFilterError, 400, "Bad Request"),
    (DatabaseUnavailableError, 503, "Service Unavailable"),
    (MultipleResultsFoundError, 500, "Internal Server Error"),
]


def problem(status: int, title: str, detail: str, **extensions: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    body.update({key: value for key, value in extensions.items() if value is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


async def _repository_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RepositoryError)
    status, title = next(
        ((status, title) for kind, status, title in _STATUS_BY_ERROR if isinstance(error, kind)),
        (500, "Internal Server Error"),
    )
    if status >= 500:
        logger.error("%s %s failed: %s", request.method, request.url.path, error)
    extensions: dict[str, Any] = {"error": type(error).__name__}
    if isinstance(error, ConstraintViolationError):
        extensions["fields"] = list(error.columns) or None
    if isinstance(error, InvalidFilterError):
        extensions["field"] = error.field
    detail = str(error) if status < 500 or status == 503 else "The request could not be completed."
    response = problem(status, title, detail, **extensions)
    if isinstance(error, DatabaseUnavailableError):
        response.headers["Retry-After"] = str(error.retry_after_seconds)
    return response


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = [
        {"loc": list(item["loc"]), "msg": item["msg"], "type": item["type"]}
        for item in error.errors()
    ]
    return problem(422, "Unprocessable Content", "The request is invalid.", errors=errors)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    response = problem(error.status_code, _reason(error.status_code), str(error.detail))
    for name, value in (error.headers or {}).items():
        response.headers[name] = value
    return response


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    logger.exception("%s %s failed", request.method, request.url.path)
    return problem(500, "Internal Server Error", "The request could not be completed.")


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def install_problem_handlers(app: FastAPI) -> None:
    """Register the handlers; every error response of `app` becomes problem+json."""
    app.add_exception_handler(RepositoryError, _repository_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)

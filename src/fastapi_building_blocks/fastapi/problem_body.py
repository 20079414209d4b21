"""The problem+json body itself (RFC 9457), shared by the handlers and the middlewares."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi.responses import JSONResponse

PROBLEM_JSON = "application/problem+json"


def problem(status: int, title: str, detail: str, **extensions: Any) -> JSONResponse:
    """A problem response; extension members that are None are left out."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    body.update({key: value for key, value in extensions.items() if value is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def reason(status: int) -> str:
    """The standard phrase for `status` ("Not Found"), or "Error" for an unlisted one."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"

"""Hostile requests against the example service on every SQL backend: each gets a 4xx
problem+json naming what was wrong, and leaves every table as it was."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from example_service.app.infrastructure.tables import schema
from fastapi_building_blocks import SQLAlchemySession
from tests.service.test_users_api import ALICE, PROBLEM, USERS, create


def cursor_of(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


async def row_counts(url: str) -> dict[str, int]:
    session = SQLAlchemySession(url)
    try:
        async with session.connection() as connection:
            return {
                table.name: (
                    await connection.execute(select(func.count()).select_from(table))
                ).scalar_one()
                for table in schema.sorted_tables
            }
    finally:
        await session.disconnect()


@pytest.fixture
async def alice(client: httpx.AsyncClient) -> dict[str, Any]:
    return await create(client, ALICE)


def body_field(response: httpx.Response) -> set[str]:
    """The fields a problem names: request validation's `loc`, or the package's own."""
    problem = response.json()
    named = set(problem.get("fields") or [])
    if problem.get("field"):
        named.add(problem["field"])
    for error in problem.get("errors") or []:
        named.add(error["loc"][-1])
    return named


HOSTILE: list[tuple[str, str, str, dict[str, Any], int, str]] = [
    # (case, method, path, request options, status, field named)
    ("huge page", "GET", USERS, {"params": {"page": 10**20}}, 422, "page"),
    ("page past int4", "GET", USERS, {"params": {"page": 2**31}}, 422, "page"),
    ("version past int4", "PATCH", "{alice}", {"json": {"version": 2**31}}, 422, "version"),
    ("huge version", "PATCH", "{alice}", {"json": {"version": 10**30}}, 422, "version"),
    ("NUL in a body", "POST", USERS, {"json": {**ALICE, "first_name": "a\x00b"}}, 422,
     "first_name"),
    ("NUL in a filter", "GET", USERS, {"params": {"filter": "first_name:eq:a\x00b"}}, 400,
     "first_name"),
    ("lone surrogate in a filter", "GET", USERS,
     {"params": {"filter": "first_name:contains:%ED%A0%80"}}, 200, ""),
    ("nested cursor", "GET", f"{USERS}keyset",
     {"params": {"cursor": cursor_of({"sort": "id", "after": [[[[[[[[[1]]]]]]]]]})}}, 400,
     "cursor"),
    ("deep cursor", "GET", f"{USERS}keyset",
     {"params": {"cursor": base64.urlsafe_b64encode(b"[" * 3000).decode()}}, 400, "cursor"),
    ("surrogate in a cursor", "GET", f"{USERS}keyset",
     {"params": {"cursor": cursor_of({"sort": "username,id", "after": ["\ud800", None]}),
                 "sort": "username"}}, 400, "cursor"),
    ("early datetime with offset", "GET", USERS,
     {"params": {"filter": "created_at:gt:0001-01-01T00:00:00+14:00"}}, 400, "created_at"),
    ("late datetime with offset", "GET", USERS,
     {"params": {"filter": "created_at:lt:9999-12-31T23:59:59-14:00"}}, 400, "created_at"),
    ("null for a required field", "PATCH", "{alice}", {"json": {"version": 1, "email": None}},
     422, "email"),
    ("a thousand filters", "GET", USERS,
     {"params": {"filter": [f"first_name:ne:x{n}" for n in range(1_000)]}}, 400, ""),
    ("a huge pattern", "GET", USERS,
     {"params": {"filter": "last_name:contains:" + "x" * 50_000}}, 400, "last_name"),
    ("too long for the column", "POST", USERS, {"json": {**ALICE, "first_name": "x" * 101}},
     422, "first_name"),
    ("a 10 MB body", "POST", USERS, {"content": b"{" + b" " * 10_000_000 + b"}",
                                     "headers": {"content-type": "application/json"}}, 413, ""),
    ("a body that is not JSON", "POST", USERS,
     {"content": b"\xff\xfe", "headers": {"content-type": "application/json"}}, 422, ""),
    ("an id that is not a key", "GET", f"{USERS}not-a-uuid", {}, 404, ""),
    ("a newline for an id", "DELETE", f"{USERS}%0A", {}, 404, ""),
    ("a page size given twice", "GET", USERS,
     {"params": [("page_size", "true"), ("page_size", "\t7")]}, 422, "page_size"),
    ("a cursor given twice", "GET", f"{USERS}keyset",
     {"params": [("cursor", "a"), ("cursor", "b")]}, 422, "cursor"),
    ("two idempotency keys", "POST", USERS,
     {"json": {**ALICE, "username": "bob", "email": "bob@example.com"},
      "headers": [("Idempotency-Key", "one"), ("Idempotency-Key", "two")]}, 422,
     "Idempotency-Key"),
    ("an empty idempotency key", "POST", USERS,
     {"json": {**ALICE, "username": "bob", "email": "bob@example.com"},
      "headers": {"Idempotency-Key": ""}}, 422, "Idempotency-Key"),
    ("the last version there is", "PATCH", "{alice}", {"json": {"version": 2**31 - 1}}, 422,
     "version"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "options", "status", "field"),
    [case[1:] for case in HOSTILE],
    ids=[case[0] for case in HOSTILE],
)
async def test_a_hostile_request_is_a_clear_problem_and_changes_nothing(
    client: httpx.AsyncClient,
    service_url: str,
    alice: dict[str, Any],
    method: str,
    path: str,
    options: dict[str, Any],
    status: int,
    field: str,
) -> None:
    before = await row_counts(service_url)

    response = await client.request(method, path.format(alice=f"{USERS}{alice['id']}"), **options)

    assert response.status_code == status, response.text
    if status >= 400:
        assert response.headers["content-type"] == PROBLEM
        if field:
            assert field in body_field(response), response.text
    assert await row_counts(service_url) == before

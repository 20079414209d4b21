"""Idempotency keys against a real server process: a client's connection dies right
after it sent a write, the client retries with the same key until it gets an answer,
and each key leaves exactly one row."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import func, select

from example_service.app.infrastructure.tables import users
from fastapi_building_blocks import SQLAlchemySession
from tests.backends import SQL_BACKENDS
from tests.conftest import backend_url
from tests.service.conftest import analytics_url_for, migrate
from tests.service.test_users_api import person
from tests.system.service_process import running_service

KEYS = 10


def send_and_hang_up(base: str, key: str, body: dict[str, object]) -> None:
    """The whole request on the wire, then the connection closed before any answer."""
    address = urlsplit(base)
    payload = json.dumps(body).encode()
    head = (
        f"POST /api/v1/users/ HTTP/1.1\r\nHost: {address.netloc}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        f"Idempotency-Key: {key}\r\n\r\n"
    ).encode()
    with socket.create_connection((address.hostname, address.port)) as connection:
        connection.sendall(head + payload)
        connection.shutdown(socket.SHUT_RDWR)


def retry_until_answered(base: str, key: str, body: dict[str, object]) -> httpx.Response:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        response = httpx.post(f"{base}/api/v1/users/", json=body,
                              headers={"Idempotency-Key": key}, timeout=10)  # fmt: skip
        if response.status_code != 409:  # 409: the first is still in flight
            return response
        time.sleep(0.05)
    raise AssertionError(f"{key}: no answer but 409 for 30 s")


@pytest.mark.parametrize("backend", SQL_BACKENDS)
async def test_writes_whose_client_hung_up_then_retried_leave_one_row_per_key(
    backend: str, tmp_path: Path
) -> None:
    url = backend_url(backend, tmp_path)
    await migrate(url, "base")  # `make run` migrates it
    environment = {"DATABASES__analytics__URL": analytics_url_for(url)}
    with running_service(url, tmp_path, environment) as base:
        answers = []
        for number in range(KEYS):
            key, body = f"hung-up-{number}", person(number)
            await asyncio.to_thread(send_and_hang_up, base, key, body)
            answers.append(await asyncio.to_thread(retry_until_answered, base, key, body))
    session = SQLAlchemySession(url)
    async with session.connection() as connection:
        stored = (await connection.execute(select(func.count()).select_from(users))).scalar()
    await session.disconnect()

    assert [response.status_code for response in answers] == [201] * KEYS
    assert stored == KEYS

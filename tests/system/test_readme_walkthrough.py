"""The README's walkthrough against a real server process started the README's way
(`make run`), on SQLite and, with only DATABASE_URL changed, PostgreSQL and MariaDB."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.backends import SQL_BACKENDS
from tests.conftest import backend_url
from tests.service.conftest import migrate

ROOT = Path(__file__).parents[2]
ALICE = {"first_name": "Alice", "last_name": "Test", "email": "alice@test.com", "username": "alice"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = backend_url(request.param, tmp_path)
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"PORT={port}"],
        cwd=ROOT, env={**os.environ, "DATABASE_URL": url}, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base, process, tmp_path / "server.log")
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


def wait_until_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"`make run` exited:\n{log.read_text()}")
        try:
            if httpx.get(f"{base}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"the service never became ready:\n{log.read_text()}")


@pytest.fixture(autouse=True)
async def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Server databases start without the service's tables; `make run` migrates them."""
    name = request.node.callspec.params["server"]
    if name != "sqlite":
        await migrate(backend_url(name, tmp_path), revision="base")


@pytest.mark.parametrize("server", SQL_BACKENDS, indirect=True)
def test_the_readme_walkthrough(server: str) -> None:
    created = httpx.post(f"{server}/api/v1/users/", json=ALICE, timeout=10)
    listed = httpx.get(f"{server}/api/v1/users/", timeout=10)

    assert created.status_code == 201, created.text
    assert listed.status_code == 200
    assert [user["email"] for user in listed.json()["items"]] == ["alice@test.com"]
    duplicate = httpx.post(f"{server}/api/v1/users/", json=ALICE, timeout=10)
    assert duplicate.status_code == 409
    assert duplicate.headers["content-type"] == "application/problem+json"

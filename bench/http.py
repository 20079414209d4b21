"""The HTTP path: the example service against a minimal plain-Core FastAPI app, each a
real uvicorn process, loaded by a third process (bench/load.py), same database."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import httpx

from example_service.app.domain.user import User
from example_service.app.infrastructure.repositories import UserRepository
from fastapi_building_blocks import SQLAlchemySession

ROOT = Path(__file__).parents[1]
BIN = Path(sys.executable).parent
Rates = dict[str, dict[str, list[float]]]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _migrate(url: str) -> None:
    alembic = [str(BIN / "alembic"), "-c", "example_service/alembic.ini", "-x", f"url={url}"]
    subprocess.run([*alembic, "downgrade", "base"], cwd=ROOT, check=True, capture_output=True)
    subprocess.run([*alembic, "upgrade", "head"], cwd=ROOT, check=True, capture_output=True)


def _serve(factory: str, url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    environment = {**os.environ, "DATABASE_URL": url, "TELEMETRY": "false", "JSON_LOGS": "false"}
    process = subprocess.Popen(
        [str(BIN / "uvicorn"), "--factory", factory, "--port", str(port), "--log-level", "warning",
         "--no-access-log"],
        cwd=ROOT, env=environment, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/docs", timeout=1)
            return process, base
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{factory} did not start")


async def _load(url: str, method: str, seconds: float, concurrency: int, ids: list[str]) -> float:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.load", url, method, str(seconds), str(concurrency),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    output, _ = await process.communicate(json.dumps(ids).encode())
    if process.returncode != 0:
        raise RuntimeError(f"load generator failed on {method} {url}")
    return float(output)


async def measure_http(url: str, rounds: int, seconds: float, concurrency: int) -> Rates:
    await asyncio.to_thread(_migrate, url)
    session = SQLAlchemySession(url)
    users = [
        User(first_name="Seed", last_name=str(n), email=f"seed{n}@x.io", username=f"seed{n}")
        for n in range(1_000)
    ]
    await UserRepository(session).bulk_create(users)
    await session.disconnect()
    ids = [str(user.id) for user in users]
    servers = [
        (
            "repository",
            "example_service.app.main:create_app",
            "/api/v1/users/{id}",
            "/api/v1/users/",
        ),
        ("core prebuilt", "bench.core_app:create_app", "/core/users/{id}", "/core/users"),
    ]
    started = [(name, *_serve(factory, url), get, post) for name, factory, get, post in servers]
    rates: Rates = defaultdict(lambda: defaultdict(list))
    try:
        for _ in range(rounds):
            for name, _process, base, get, post in started:
                for label, method, path in (("GET", "GET", get), ("POST", "POST", post)):
                    workload = f"HTTP {label} {concurrency} concurrent clients (requests/s)"
                    rate = await _load(base + path, method, seconds, concurrency, ids)
                    rates[workload][name].append(rate)
    finally:
        for _name, process, *_ in started:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    return rates

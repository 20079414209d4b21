"""The HTTP path: the example service against a minimal plain-Core FastAPI app, each a
real uvicorn process, loaded by wrk, same database.

wrk, not a Python client: httpx in a process of its own topped out near 200 requests/s
here, below either server, so the ratio measured the client (0.94-1.06 whatever the
servers did); wrk drives the same servers at 500-600 requests/s with a fraction of a core.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
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


def _serve(factory: str, url: str, pool_size: int) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    environment = {
        **os.environ, "DATABASE_URL": url, "DATABASES__DEFAULT__POOL_SIZE": str(pool_size),
        "TELEMETRY": "false", "JSON_LOGS": "false",
        # The request path only: a POST still writes its outbox row, but the relay's
        # delivery (measured in bench/outbox.py) would share the two cores with the load.
        "RUN_RELAY": "false",
    }  # fmt: skip
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


#: One request per call: GETs cycle through seeded ids; POSTs create a user with an
#: email and username no other request (in any round, on either server) has used. wrk
#: runs one thread (`-t1`), so one counter per run is enough to keep them apart.
WRK_SCRIPT = """
local ids, run, method = {ids}, "{run}", "{method}"
local get_prefix, post_path = "{get_prefix}", "{post_path}"
local counter = 0
local body_format = '{{"first_name":"Load","last_name":"Test","email":"%s@x.io","username":"%s"}}'
request = function()
  counter = counter + 1
  if method == "GET" then
    return wrk.format("GET", get_prefix .. ids[counter % #ids + 1])
  end
  local tag = string.format("w%s-%d", run, counter)
  return wrk.format("POST", post_path, {{["Content-Type"] = "application/json"}},
                    string.format(body_format, tag, tag))
end
"""


#: wrk gives up on a request after 2 s by default and reports it as a socket error. The
#: plain-Core reference on SQLite answers some POSTs that late under 16 writers (p99
#: 1.0-2.9 s, the repository's 56-71 ms; presumably its write lock spans two hops to
#: aiosqlite's thread, INSERT then COMMIT, while the others back off in SQLite's busy
#: handler: not traced further), so a slow answer is waited for and counted; an error
#: still fails the run.
async def _load(
    base: str, method: str, paths: tuple[str, str], seconds: float, concurrency: int,
    ids: list[str],
) -> float:  # fmt: skip
    """Requests per second wrk completed; any failed request fails the run."""
    script = WRK_SCRIPT.format(
        ids="{" + ",".join(f'"{key}"' for key in ids) + "}",
        run=time.time_ns(),
        get_prefix=paths[0].removesuffix("{id}"),
        post_path=paths[1],
        method=method,
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as file:
        file.write(script)
        file.flush()
        process = await asyncio.create_subprocess_exec(
            "wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "-s", file.name,
            "--timeout", "10s",
            base, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        output, errors = await process.communicate()
    report = output.decode()
    rate = re.search(r"Requests/sec:\s+([\d.]+)", report)
    if process.returncode != 0 or rate is None or re.search(r"Non-2xx|Socket errors", report):
        raise RuntimeError(f"wrk {method} {base}: {report}{errors.decode()}")
    return float(rate.group(1))


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
    # A pool as large as the load, for both: with a 5 + 10 pool, QueuePool closes
    # an overflow connection whenever it comes back to a full pool, and 16 clients kept
    # reconnecting; throughput then flipped between runs (PostgreSQL: 388 or 754
    # requests/s for the same service, 70 new server sessions a second) and measured
    # the churn, not the layer.
    started = [
        (name, *_serve(factory, url, pool_size=concurrency), get, post)
        for name, factory, get, post in servers
    ]
    rates: Rates = defaultdict(lambda: defaultdict(list))
    try:
        for _ in range(rounds):
            for name, _process, base, get, post in started:
                for method in ("GET", "POST"):
                    workload = f"HTTP {method} {concurrency} concurrent clients (requests/s)"
                    rate = await _load(base, method, (get, post), seconds, concurrency, ids)
                    rates[workload][name].append(rate)
    finally:
        for _name, process, *_ in started:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    return rates

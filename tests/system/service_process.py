"""The example service as a real process, started the README's way (`make run`)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_service(
    database_url: str,
    directory: Path,
    environment: Mapping[str, str] | None = None,
    service: Path = ROOT,
) -> Iterator[str]:
    """`make run` in `service` on a free port until the block ends; yields the base URL."""
    port = free_port()
    log_path = directory / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"PORT={port}"],
            cwd=service, env={**os.environ, "DATABASE_URL": database_url, **(environment or {})},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_ready(base, process, log_path)
            yield base
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


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

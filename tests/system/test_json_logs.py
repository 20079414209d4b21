"""Every line the running service writes is JSON: its own, and uvicorn's access lines."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.backends import sqlite_url
from tests.system.service_process import running_service


def test_uvicorns_access_lines_are_json_like_the_apps(tmp_path: Path) -> None:
    with running_service(sqlite_url(tmp_path), tmp_path) as base:
        httpx.get(f"{base}/health/live")
    lines = (tmp_path / "server.log").read_text().splitlines()
    served = [json.loads(line) for line in lines if "/health/live" in line]
    started = [json.loads(line) for line in lines if "Application startup complete" in line]

    assert [entry["logger"] for entry in served] == ["uvicorn.access"]
    assert [entry["logger"] for entry in started] == ["uvicorn.error"]

"""/docs renders in a real browser that can reach nothing but the service itself."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.backends import sqlite_url
from tests.system.service_process import running_service

CHROMIUM = shutil.which("chromium")


def rendered(url: str, profile: Path) -> str:
    """The page's DOM after its scripts ran, every host but 127.0.0.1 unresolvable."""
    assert CHROMIUM is not None, "no chromium: tests/servers/ensure.sh installs it"
    run = subprocess.run(
        [
            str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
            f"--user-data-dir={profile}",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--virtual-time-budget=15000", "--dump-dom", url,
        ],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return run.stdout


def test_swagger_ui_and_redoc_render_the_operations_offline(tmp_path: Path) -> None:
    with running_service(sqlite_url(tmp_path), tmp_path) as base:
        swagger = rendered(f"{base}/docs", tmp_path / "profile")
        redoc = rendered(f"{base}/redoc", tmp_path / "profile")

    assert 'class="swagger-ui' in swagger
    assert swagger.count('class="opblock ') >= 10  # one per operation: Swagger UI ran
    assert "/api/v1/users/" in swagger
    assert "cdn.jsdelivr.net" not in swagger
    assert "redoc-wrap" in redoc  # ReDoc's root element: it rendered the document
    assert "/api/v1/users/" in redoc

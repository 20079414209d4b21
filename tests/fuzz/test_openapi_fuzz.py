"""Schemathesis, every check, against the example service as a real process (`make run`)
on every SQL backend: no 5xx, and every response as the OpenAPI document describes it.

`make fuzz` runs the same with 15 times the cases (about 10,000 per backend) and a fresh seed.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.backends import SQL_BACKENDS
from tests.conftest import backend_url
from tests.service.conftest import migrate
from tests.system.service_process import ROOT, running_service

CONFIG = Path(__file__).with_name("schemathesis.toml")
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "50"))
SEED = os.environ.get("FUZZ_SEED", "20261202")
#: The suite's bound: at least this many generated cases per backend.
MINIMUM_CASES = 1_000


def fuzz(base: str) -> tuple[int, int, str]:
    """(exit status, cases generated, output) of one schemathesis run against `base`."""
    command = [
        str(ROOT / ".venv" / "bin" / "st"), "--config-file", str(CONFIG), "run",
        f"{base}/openapi.json", "--checks", "all", "--max-examples", str(EXAMPLES),
        "--no-color", "--request-timeout", "10",
    ]  # fmt: skip
    if SEED:
        command += ["--seed", SEED]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    output = finished.stdout + finished.stderr
    generated = re.search(r"(\d+) generated", output)
    return finished.returncode, int(generated.group(1)) if generated else 0, output


@pytest.mark.parametrize("backend_name", SQL_BACKENDS)
async def test_fuzzing_the_openapi_document_finds_no_5xx_and_no_schema_mismatch(
    backend_name: str, tmp_path: Path
) -> None:
    url = backend_url(backend_name, tmp_path)
    if backend_name != "sqlite":
        await migrate(url, revision="base")  # `make run` migrates it
    with running_service(url, tmp_path, {"JSON_LOGS": "false"}) as base:
        status, generated, output = fuzz(base)

    assert status == 0, output[-6000:]
    assert generated >= min(MINIMUM_CASES, EXAMPLES * 20), output[-2000:]
    assert "Internal Server Error" not in (tmp_path / "server.log").read_text()

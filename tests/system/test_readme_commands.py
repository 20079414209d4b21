"""The README's curl commands, exactly as written, against a real `make run`."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.backends import sqlite_url
from tests.system.service_process import ROOT, running_service

README_BASE = "http://127.0.0.1:8000"


def readme_curl_commands() -> list[str]:
    """Each `curl` command of the README's code blocks, continuation lines joined."""
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    joined = [block.replace("\\\n", " ") for block in blocks]
    return [line.strip() for block in joined for line in block.splitlines()
            if line.strip().startswith("curl ")]  # fmt: skip


def test_the_readme_has_its_walkthrough() -> None:
    assert len(readme_curl_commands()) >= 5


def test_every_readme_curl_command_succeeds(tmp_path: Path) -> None:
    with running_service(sqlite_url(tmp_path), tmp_path) as base:
        for command in readme_curl_commands():
            command = command.replace(README_BASE, base).split("   #")[0]  # its comment
            done = subprocess.run(
                f"{command} --silent --show-error --fail-with-body",
                shell=True, capture_output=True, text=True, timeout=30,
            )  # fmt: skip
            assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"

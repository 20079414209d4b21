"""The README's "a database of your own" commands, as written: create, then `make run`."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.system.service_process import ROOT, running_service

#: What the commands create, removed first so they run as on a machine that has none.
CLEAN = [
    ["runuser", "-u", "postgres", "--", "psql", "-c", "DROP DATABASE IF EXISTS users",
     "-c", "DROP ROLE IF EXISTS app"],
    ["mariadb", "-e", "DROP DATABASE IF EXISTS users; DROP USER IF EXISTS 'app'@'%'"],
]  # fmt: skip


def own_database_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("For a database of your own") :]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block is not None
    return [line for line in block.group(1).splitlines() if line.strip()]


@pytest.mark.skipif(os.geteuid() != 0, reason="the commands are root's, as the README says")
def test_the_readme_creates_a_database_of_your_own_and_serves_from_it(tmp_path: Path) -> None:
    for command in CLEAN:
        subprocess.run(command, check=True, capture_output=True)
    served = []
    for line in own_database_commands():
        if line.startswith("DATABASE_URL="):
            url = line.split()[0].removeprefix("DATABASE_URL=")
            with running_service(url, tmp_path) as base:
                served.append(httpx.get(f"{base}/health/ready", timeout=10).status_code)
        else:
            done = subprocess.run(line, shell=True, capture_output=True, text=True)
            assert done.returncode == 0, f"{line}\n{done.stderr}"

    assert served == [200, 200]

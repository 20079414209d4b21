"""The benchmark must keep working as the code changes; it is timed only by `make bench`."""

from __future__ import annotations

import subprocess
import sys


def test_the_benchmark_runs_and_reports_every_workload() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--backend", "sqlite", "--output", "-"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )

    for workload in ("get by primary key", "insert one", "update by primary key",
                     "version checked", "delete by", "offset page", "keyset page", "bulk_create",
                     "tasks over a pool",
                     "observability", "SDK by hand"):  # fmt: skip
        assert workload in finished.stdout

"""Throwaway database servers for tests that stop and start one: never the shared ones.

Each lives in a temporary directory on a free port, made from the same Debian packages
`ensure.sh` installs, and is removed with its directory.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.system.service_process import free_port


def _directory_for(user: str) -> Path:
    """A fresh directory the server's own user can reach (pytest's tmp_path is root's only)."""
    directory = Path(tempfile.mkdtemp(prefix="fbb-server-"))
    directory.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(directory, user)
    return directory


def _as(user: str, command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", user, "--", *command]


def _wait(check: list[str], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if subprocess.run(check, capture_output=True, check=False).returncode == 0:
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not come up within {seconds:g}s")


def _signal(pids: list[int], signal_number: signal.Signals) -> None:
    for pid in pids:
        os.kill(pid, signal_number)


class DisposablePostgres:
    """A PostgreSQL cluster of its own: user fbb (trusted), database fbb."""

    def __init__(self) -> None:
        directory = _directory_for("postgres")
        versions = sorted(Path("/usr/lib/postgresql").iterdir(), key=lambda p: int(p.name))
        self.bin = versions[-1] / "bin"
        self.directory = directory
        self.data = directory / "data"
        self.port = free_port()
        self.url = f"postgresql+asyncpg://fbb@127.0.0.1:{self.port}/fbb"
        subprocess.run(
            _as("postgres", [str(self.bin / "initdb"), "-D", str(self.data), "-U", "fbb",
                             "--auth=trust", "-E", "UTF8", "--locale=C"]),
            check=True, capture_output=True,
        )  # fmt: skip

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            _as("postgres", [str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options,
                             "-l", str(self.directory / "log"), "-w", "start"]),
            check=True, capture_output=True,
        )  # fmt: skip
        _wait([str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)], "PostgreSQL")
        subprocess.run(
            [str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "fbb",
             "-d", "postgres", "-tAc", "SELECT 1 FROM pg_database WHERE datname = 'fbb'"],
            check=True, capture_output=True, text=True,
        ).stdout.strip() == "1" or subprocess.run(
            [str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "fbb",
             "fbb"], check=True, capture_output=True,
        )  # fmt: skip

    def pids(self) -> list[int]:
        """The postmaster and every process it started (backends included)."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = subprocess.run(
            ["pgrep", "-P", str(postmaster)], capture_output=True, text=True, check=False
        ).stdout.split()
        return [postmaster, *map(int, children)]

    def freeze(self) -> None:
        """Every process stopped (SIGSTOP): connections stay open, nothing answers."""
        _signal(self.pids(), signal.SIGSTOP)

    def thaw(self) -> None:
        _signal(self.pids(), signal.SIGCONT)

    def stop(self) -> None:
        subprocess.run(
            _as("postgres", [str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast",
                             "-w", "stop"]),
            check=False, capture_output=True,
        )  # fmt: skip

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


class DisposableMariaDB:
    """A mariadbd of its own: user fbb@127.0.0.1 (password fbb), database fbb."""

    def __init__(self) -> None:
        directory = _directory_for("mysql")
        self.directory = directory
        self.data = directory / "data"
        self.socket = directory / "mysqld.sock"
        self.port = free_port()
        self.url = f"mysql+aiomysql://fbb:fbb@127.0.0.1:{self.port}/fbb"
        self.process: subprocess.Popen[bytes] | None = None
        subprocess.run(
            ["mariadb-install-db", f"--datadir={self.data}", "--user=mysql",
             "--auth-root-authentication-method=socket", "--skip-test-db"],
            check=True, capture_output=True,
        )  # fmt: skip
        self._initialised = False

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["/usr/sbin/mariadbd", "--no-defaults", f"--datadir={self.data}", "--user=mysql",
             f"--port={self.port}", "--bind-address=127.0.0.1", f"--socket={self.socket}",
             f"--pid-file={self.directory / 'mysqld.pid'}", "--skip-log-bin",
             "--innodb-buffer-pool-size=32M", "--innodb-log-file-size=8M"],
            stdout=subprocess.DEVNULL, stderr=(self.directory / "log").open("ab"),
        )  # fmt: skip
        client = ["mariadb", f"--socket={self.socket}", "-uroot"]
        _wait([*client, "-e", "SELECT 1"], "MariaDB")
        if not self._initialised:
            subprocess.run(
                [*client, "-e", "CREATE DATABASE IF NOT EXISTS fbb CHARACTER SET utf8mb4 "
                 "COLLATE utf8mb4_bin; CREATE USER IF NOT EXISTS 'fbb'@'127.0.0.1' "
                 "IDENTIFIED BY 'fbb'; GRANT ALL ON fbb.* TO 'fbb'@'127.0.0.1';"],
                check=True, capture_output=True,
            )  # fmt: skip
            self._initialised = True

    def freeze(self) -> None:
        """The server stopped (SIGSTOP): connections stay open, nothing answers."""
        assert self.process is not None
        _signal([self.process.pid], signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        _signal([self.process.pid], signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=60)
            self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

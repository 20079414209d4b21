"""The replicas tests/servers/ensure.sh runs, and what tests do to them: hold one behind,
stop one, start it again. Which server answered a read is always asked of the server."""

from __future__ import annotations

import glob
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import make_url

from tests.backends import MARIADB_URL, POSTGRESQL_URL

ENSURE = Path(__file__).with_name("ensure.sh")


def _on_port(url: str, port: int) -> str:
    return make_url(url).set(port=port).render_as_string(hide_password=False)


@dataclass(frozen=True)
class Cluster:
    """A primary with a replica and a replica that applies changes 2 s late."""

    name: str
    primary_url: str
    replica_port: int
    delayed_port: int
    #: The port of the server that runs it: which server answered.
    answered_by_sql: str
    #: Stop and restart applying changes on a replica (it falls behind meanwhile).
    hold_sql: str
    release_sql: str

    @property
    def primary_port(self) -> int:
        port = make_url(self.primary_url).port
        assert port is not None
        return port

    @property
    def replica_url(self) -> str:
        return _on_port(self.primary_url, self.replica_port)

    @property
    def delayed_url(self) -> str:
        return _on_port(self.primary_url, self.delayed_port)

    def stop(self, port: int) -> None:
        """Shut the replica on `port` down, as an operator would (a fast shutdown)."""
        if self.name == "postgresql":
            (data,) = glob.glob(f"/var/lib/postgresql/*/fbb-replica-{port}")
            (pg_ctl,) = glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")
            _as_user("postgres", [pg_ctl, "-D", data, "-m", "fast", "-w", "stop"])
        else:
            socket = f"/run/mysqld/fbb-replica-{port}.sock"
            subprocess.run(["mariadb", "-S", socket, "-e", "SHUTDOWN"], check=True)

    def start(self) -> None:
        """Start whatever replica is down again (ensure.sh starts only what is not up)."""
        subprocess.run(["bash", str(ENSURE)], check=True, capture_output=True)


def _as_user(user: str, command: list[str]) -> None:
    if os.getuid() == 0:
        command = ["runuser", "-u", user, "--", *command]
    else:
        command = ["sudo", "-u", user, *command]
    subprocess.run(command, check=True, capture_output=True)


POSTGRESQL = Cluster(
    "postgresql",
    POSTGRESQL_URL,
    replica_port=5433,
    delayed_port=5434,
    answered_by_sql="SELECT inet_server_port()",
    hold_sql="SELECT pg_wal_replay_pause()",
    release_sql="SELECT pg_wal_replay_resume()",
)
MARIADB = Cluster(
    "mariadb",
    MARIADB_URL,
    replica_port=3307,
    delayed_port=3308,
    answered_by_sql="SELECT @@port",
    hold_sql="STOP REPLICA SQL_THREAD",
    release_sql="START REPLICA SQL_THREAD",
)
CLUSTERS = [POSTGRESQL, MARIADB]

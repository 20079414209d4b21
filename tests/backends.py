"""Where the real databases are: every backend the contract suite runs on."""

from __future__ import annotations

import os
from pathlib import Path

POSTGRESQL_URL = os.environ.get(
    "POSTGRESQL_URL", "postgresql+asyncpg://fbb:fbb@127.0.0.1:5432/fbb_test"
)
MARIADB_URL = os.environ.get("MARIADB_URL", "mysql+aiomysql://fbb:fbb@127.0.0.1:3306/fbb_test")
MSSQL_URL = os.environ.get("MSSQL_URL")


def sqlite_url(directory: Path) -> str:
    return f"sqlite+aiosqlite:///{directory / 'contract.db'}"


SERVER_URLS = {"postgresql": POSTGRESQL_URL, "mariadb": MARIADB_URL}
if MSSQL_URL:
    SERVER_URLS["mssql"] = MSSQL_URL

BACKENDS = ["memory", "sqlite", *SERVER_URLS]
SQL_BACKENDS = ["sqlite", *SERVER_URLS]

"""Backends for the contract suite: the same test functions run on each of them.

A server that does not answer makes its tests fail, never skip: `make test` starts the
servers (tests/servers/ensure.sh) before pytest runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete

from fastapi_building_blocks import (
    InMemoryDatabase,
    InMemoryUnitOfWork,
    SQLAlchemySession,
    UnitOfWork,
)
from tests.backends import BACKENDS, SERVER_URLS, sqlite_url
from tests.schema import REPOSITORIES, schema
from tests.servers.replicas import CLUSTERS


@dataclass
class Backend:
    """One backend for one test: its store, and repositories and units of work on it."""

    name: str
    session: SQLAlchemySession | None  # None for the in-memory backend
    memory: InMemoryDatabase | None = None

    def repository(self, kind: str, source: Any = None) -> Any:
        """A repository of `kind` ("things", "notes", ...) on `source` (default: the store)."""
        sql, memory = REPOSITORIES[kind]
        if self.session is None:
            return memory(source if source is not None else self.memory)
        return sql(source if source is not None else self.session)

    def unit_of_work(self) -> UnitOfWork | InMemoryUnitOfWork:
        if self.session is None:
            assert self.memory is not None
            return InMemoryUnitOfWork(self.memory)
        return UnitOfWork(self.session)

    def with_fresh_memory(self) -> Backend:
        return Backend(
            self.name, self.session, InMemoryDatabase() if self.session is None else None
        )


def backend_url(name: str, directory: Path) -> str:
    return sqlite_url(directory) if name == "sqlite" else SERVER_URLS[name]


#: Each SQL backend twice: hot statements through the driver, and all through SQLAlchemy;
#: and the servers once more with reads routed to their two replicas (one 2 s behind).
BACKEND_PATHS = [
    ("memory", "driver"),
    *((name, path) for name in BACKENDS if name != "memory" for path in ("driver", "sqlalchemy")),
    *((cluster.name, "replicas") for cluster in CLUSTERS),
]


@pytest.fixture(
    scope="session",
    params=BACKEND_PATHS,
    ids=[name if path == "driver" else f"{name}-{path}" for name, path in BACKEND_PATHS],
)
async def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Backend]:
    name, path = request.param
    if name == "memory":
        yield Backend("memory", None)
        return
    url = backend_url(name, tmp_path_factory.mktemp("sqlite"))
    replicas = next(
        ([c.replica_url, c.delayed_url] for c in CLUSTERS if path == "replicas" and c.name == name),
        [],
    )
    session = SQLAlchemySession(url, use_driver_path=path != "sqlalchemy", replica_urls=replicas)
    async with session.engine.begin() as connection:
        await connection.run_sync(schema.drop_all)
        await connection.run_sync(schema.create_all)
    yield Backend(name, session)
    await session.disconnect()


@pytest.fixture
async def clean_backend(backend: Backend) -> Backend:
    if backend.session is not None:
        # Through the session: with replicas, the test's reads then wait for these deletes.
        async with backend.session.transaction() as connection:
            for table in reversed(schema.sorted_tables):
                await connection.execute(delete(table))
    return backend.with_fresh_memory()


@pytest.fixture(autouse=True)
def _only_on_named_backends(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("backend")
    if marker is None or "backend" not in request.fixturenames:
        return
    name = request.getfixturevalue("backend").name
    if name not in marker.args:
        pytest.skip(f"{marker.kwargs.get('reason', 'not offered')} on {name}")

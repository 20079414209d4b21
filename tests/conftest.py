"""Backends for the contract suite: the same test functions run on each of them.

A server that does not answer makes its tests fail, never skip: `make test` starts the
servers (tests/servers/ensure.sh) before pytest runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import delete

from fastapi_building_blocks import InMemoryDatabase, SQLAlchemySession
from tests.backends import BACKENDS, SERVER_URLS, sqlite_url
from tests.schema import (
    MemoryChildren,
    MemoryParents,
    MemoryThings,
    SQLChildren,
    SQLParents,
    SQLThings,
    schema,
)


@dataclass
class Backend:
    name: str
    session: SQLAlchemySession | None  # None for the in-memory backend

    def repositories(self) -> tuple[object, object, object]:
        if self.session is None:
            database = InMemoryDatabase()
            return MemoryThings(database), MemoryParents(database), MemoryChildren(database)
        return SQLThings(self.session), SQLParents(self.session), SQLChildren(self.session)


def backend_url(name: str, directory: Path) -> str:
    return sqlite_url(directory) if name == "sqlite" else SERVER_URLS[name]


@pytest.fixture(scope="session", params=BACKENDS)
async def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Backend]:
    if request.param == "memory":
        yield Backend("memory", None)
        return
    url = backend_url(request.param, tmp_path_factory.mktemp("sqlite"))
    session = SQLAlchemySession(url)
    async with session.engine.begin() as connection:
        await connection.run_sync(schema.drop_all)
        await connection.run_sync(schema.create_all)
    yield Backend(request.param, session)
    await session.disconnect()


@pytest.fixture
async def clean_backend(backend: Backend) -> Backend:
    if backend.session is not None:
        async with backend.session.engine.begin() as connection:
            for table in reversed(schema.sorted_tables):
                await connection.execute(delete(table))
    return backend


@pytest.fixture(autouse=True)
def _only_on_named_backends(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("backend")
    if marker is None or "backend" not in request.fixturenames:
        return
    name = request.getfixturevalue("backend").name
    if name not in marker.args:
        pytest.skip(f"{marker.kwargs.get('reason', 'not offered')} on {name}")

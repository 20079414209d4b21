from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import make_url

from fastapi_building_blocks import SQLAlchemySession
from tests.backends import MARIADB_URL, POSTGRESQL_URL
from tests.outbox.schema import source_schema, target_schema

#: Each backend's source database, and the target the handlers write to.
PAIRS = {
    "postgresql": (POSTGRESQL_URL, "fbb_analytics"),
    "mariadb": (MARIADB_URL, "fbb_analytics"),
    "sqlite": (None, None),
}


@dataclass
class Pair:
    name: str
    source: SQLAlchemySession
    target: SQLAlchemySession

    @property
    def urls(self) -> tuple[str, str]:
        return tuple(  # type: ignore[return-value]
            s.url.render_as_string(hide_password=False) for s in (self.source, self.target)
        )


def urls_for(name: str, directory: Path) -> tuple[str, str]:
    source, target_database = PAIRS[name]
    if source is None:
        return (f"sqlite+aiosqlite:///{directory / 'source.db'}",
                f"sqlite+aiosqlite:///{directory / 'target.db'}")  # fmt: skip
    target = make_url(source).set(database=target_database).render_as_string(hide_password=False)
    return source, target


@pytest.fixture(params=list(PAIRS))
async def pair(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Pair]:
    source_url, target_url = urls_for(request.param, tmp_path)
    source, target = SQLAlchemySession(source_url), SQLAlchemySession(target_url)
    for session, schema in ((source, source_schema), (target, target_schema)):
        async with session.transaction() as connection:
            await connection.run_sync(schema.drop_all)
            await connection.run_sync(schema.create_all)
    yield Pair(request.param, source, target)
    await source.disconnect()
    await target.disconnect()

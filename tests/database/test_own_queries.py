"""A repository's own Core statements: the same translation, hooks and soft-delete rule."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import func, insert, select, text

from fastapi_building_blocks import (
    RepositoryError,
    SQLAlchemySession,
    UniqueViolationError,
    UnitOfWork,
)
from fastapi_building_blocks.database.translate import redacted
from fastapi_building_blocks.observability import Observation, Operation, add_hook, remove_hook
from tests.backends import SQL_BACKENDS
from tests.conftest import backend_url
from tests.schema import Note, SQLNotes, create_tables, notes


@pytest.fixture(params=SQL_BACKENDS)
async def repository(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    session = SQLAlchemySession(backend_url(request.param, tmp_path))
    await create_tables(session)
    async with session.transaction() as connection:
        await connection.execute(notes.delete())
    yield SQLNotes(session)
    await session.disconnect()


async def test_live_hides_soft_deleted_rows_from_an_own_query(repository: SQLNotes) -> None:
    await repository.create(Note(title="kept"))
    gone = await repository.create(Note(title="gone"))
    await repository.delete(gone.id)

    everything = await repository.query(select(func.count()).select_from(notes))
    live = await repository.query(repository.live(select(notes.c.title)))

    assert next(iter(everything[0].values())) == 2
    assert [row["title"] for row in live] == ["kept"]


async def test_an_own_write_gets_the_same_error_translation(repository: SQLNotes) -> None:
    await repository.create(Note(title="taken"))
    duplicate = insert(notes).values(
        id=Note(title="x").id, title="taken", body="", created_at=func.now(),
        updated_at=func.now(), version=1,
    )  # fmt: skip

    with pytest.raises(UniqueViolationError) as refused:
        await repository.execute(duplicate)

    assert refused.value.columns == ("title",)


async def test_an_own_query_is_seen_by_the_hooks_and_joins_a_unit_of_work(
    repository: SQLNotes,
) -> None:
    seen: list[str] = []

    @contextmanager
    def record(operation: Operation) -> Iterator[Observation]:
        seen.append(f"{operation.name} {operation.table}")
        yield Observation()

    add_hook(record)
    try:
        async with UnitOfWork(repository.session) as uow:  # type: ignore[arg-type]
            in_work = SQLNotes(uow)
            await in_work.create(Note(title="uncommitted"))
            inside = await in_work.query(select(notes.c.title))
    finally:
        remove_hook(record)

    assert [row["title"] for row in inside] == ["uncommitted"]
    assert "query notes" in seen
    assert await repository.count() == 0  # rolled back with its unit of work


async def test_an_error_the_translator_does_not_know_is_logged_with_the_drivers_words(
    repository: SQLNotes, caplog: pytest.LogCaptureFixture
) -> None:
    missing = select(text("1")).select_from(text("no_such_table"))

    with pytest.raises(RepositoryError) as raised:
        await repository.query(missing)

    assert type(raised.value) is RepositoryError  # a 500: the service's bug, not the caller's
    logged = caplog.text.lower()
    assert "no_such_table" in logged
    assert "doesn't exist" in logged or "does not exist" in logged or "no such table" in logged


def test_quoted_values_are_withheld_from_logged_driver_messages() -> None:
    message = 'invalid input syntax for type uuid: "secret-value"\nDETAIL: more'

    assert redacted(message) == "invalid input syntax for type uuid: <…>"

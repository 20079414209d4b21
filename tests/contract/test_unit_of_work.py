"""A unit of work is one transaction across repositories, the same on every backend."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fastapi_building_blocks import Filter, UniqueViolationError, UnitOfWorkError
from tests.conftest import Backend
from tests.schema import Note, Parent


class BoomError(Exception):
    """An application error in the middle of a unit of work."""


async def test_a_committed_unit_of_work_keeps_both_writes(clean_backend: Backend) -> None:
    async with clean_backend.unit_of_work() as uow:
        await clean_backend.repository("parents", uow).create(Parent(label="p"))
        await clean_backend.repository("notes", uow).create(Note(title="n"))
        await uow.commit()

    assert await clean_backend.repository("parents").count() == 1
    assert await clean_backend.repository("notes").count() == 1


async def test_a_unit_of_work_that_fails_leaves_no_trace_of_either_write(
    clean_backend: Backend,
) -> None:
    with pytest.raises(BoomError):
        async with clean_backend.unit_of_work() as uow:
            await clean_backend.repository("parents", uow).create(Parent(label="p"))
            await clean_backend.repository("notes", uow).create(Note(title="n"))
            raise BoomError

    assert await clean_backend.repository("parents").count() == 0
    assert await clean_backend.repository("notes").count() == 0


async def test_leaving_without_commit_rolls_back(clean_backend: Backend) -> None:
    async with clean_backend.unit_of_work() as uow:
        await clean_backend.repository("notes", uow).create(Note(title="n"))

    assert await clean_backend.repository("notes").count() == 0


async def test_rollback_undoes_the_work_and_the_unit_of_work_goes_on(
    clean_backend: Backend,
) -> None:
    async with clean_backend.unit_of_work() as uow:
        notes = clean_backend.repository("notes", uow)
        await notes.create(Note(title="undone"))
        await uow.rollback()
        await notes.create(Note(title="kept"))
        await uow.commit()

    stored = await clean_backend.repository("notes").list()
    assert [note.title for note in stored] == ["kept"]


async def test_reads_inside_see_the_unit_of_works_own_writes(clean_backend: Backend) -> None:
    async with clean_backend.unit_of_work() as uow:
        notes = clean_backend.repository("notes", uow)
        created = await notes.create(Note(title="mine"))

        assert await notes.get_by_id(created.id) == created
        assert await notes.count() == 1


@pytest.mark.backend(
    "sqlite", "postgresql", "mariadb", "mssql", reason="in-memory units of work are not isolated"
)
async def test_others_do_not_see_uncommitted_writes(clean_backend: Backend) -> None:
    async with clean_backend.unit_of_work() as uow:
        await clean_backend.repository("notes", uow).create(Note(title="pending"))

        assert await clean_backend.repository("notes").count() == 0


async def test_a_bulk_create_inside_is_undone_with_the_unit_of_work(clean_backend: Backend) -> None:
    async with clean_backend.unit_of_work() as uow:
        await clean_backend.repository("notes", uow).bulk_create(
            [Note(title=f"n{n}") for n in range(500)], batch_size=100
        )

    assert await clean_backend.repository("notes").count() == 0


async def test_a_rolled_back_savepoint_keeps_the_outer_work(clean_backend: Backend) -> None:
    async with clean_backend.unit_of_work() as uow:
        notes = clean_backend.repository("notes", uow)
        await notes.create(Note(title="outer"))
        with pytest.raises(BoomError):
            async with uow.savepoint():
                await notes.create(Note(title="inner"))
                raise BoomError
        await uow.commit()

    assert [note.title for note in await clean_backend.repository("notes").list()] == ["outer"]


async def test_a_savepoint_absorbs_a_failed_statement(clean_backend: Backend) -> None:
    async with clean_backend.unit_of_work() as uow:
        notes = clean_backend.repository("notes", uow)
        await notes.create(Note(title="taken"))
        with pytest.raises(UniqueViolationError):
            async with uow.savepoint():
                await notes.create(Note(title="taken"))
        await notes.create(Note(title="after"))
        await uow.commit()

    assert await clean_backend.repository("notes").count() == 2


async def test_after_a_failed_statement_only_rollback_is_allowed(clean_backend: Backend) -> None:
    async with clean_backend.unit_of_work() as uow:
        notes = clean_backend.repository("notes", uow)
        await notes.create(Note(title="taken"))
        with pytest.raises(UniqueViolationError):
            await notes.create(Note(title="taken"))

        with pytest.raises(UnitOfWorkError):
            await notes.count()
        with pytest.raises(UnitOfWorkError):
            await uow.commit()
        await uow.rollback()
        assert await notes.count() == 0

    assert await clean_backend.repository("notes").count() == 0


async def test_after_commit_callbacks_run_once_after_a_successful_commit(
    clean_backend: Backend,
) -> None:
    calls: list[str] = []

    async def async_listener() -> None:
        calls.append("async")

    async with clean_backend.unit_of_work() as uow:
        await clean_backend.repository("notes", uow).create(Note(title="n"))
        uow.after_commit(lambda: calls.append("sync"))
        uow.after_commit(async_listener)
        assert calls == []
        await uow.commit()
        await uow.commit()

    assert calls == ["sync", "async"]


async def test_after_commit_callbacks_never_run_after_a_rollback(clean_backend: Backend) -> None:
    calls: list[str] = []

    async with clean_backend.unit_of_work() as uow:
        uow.after_commit(lambda: calls.append("rolled back"))
        await uow.rollback()
        await uow.commit()
    with pytest.raises(BoomError):
        async with clean_backend.unit_of_work() as uow:
            uow.after_commit(lambda: calls.append("failed"))
            raise BoomError
    async with clean_backend.unit_of_work() as uow:
        uow.after_commit(lambda: calls.append("left"))

    assert calls == []


async def test_a_failing_callback_does_not_undo_the_commit(clean_backend: Backend) -> None:
    def broken() -> None:
        raise RuntimeError("listener bug")

    async with clean_backend.unit_of_work() as uow:
        await clean_backend.repository("notes", uow).create(Note(title="n"))
        uow.after_commit(broken)
        await uow.commit()

    assert await clean_backend.repository("notes").count() == 1


async def test_a_unit_of_work_is_only_usable_inside_its_block(clean_backend: Backend) -> None:
    uow = clean_backend.unit_of_work()
    notes = clean_backend.repository("notes", uow)

    with pytest.raises(UnitOfWorkError):
        await notes.count()


async def test_concurrent_units_of_work_with_the_same_version_let_exactly_one_win(
    clean_backend: Backend,
) -> None:
    rounds = 3 if clean_backend.name == "memory" else 15
    for round_number in range(rounds):
        note = await clean_backend.repository("notes").create(Note(title=f"race-{round_number}"))
        both_read = asyncio.Barrier(2)

        async def writer(body: str, target: Any = note, both_read: Any = both_read) -> str:
            # Each holds the version it read, as a client does between a GET and a PATCH;
            # both units of work then start together. (Reading inside them and waiting for
            # each other there would deadlock SQLite, whose transactions take turns.)
            mine = await clean_backend.repository("notes").get_by_id(target.id)
            await both_read.wait()
            async with clean_backend.unit_of_work() as uow:
                mine.body = body
                await clean_backend.repository("notes", uow).update(mine)
                await uow.commit()
            return body

        outcomes = await asyncio.gather(writer("left"), writer("right"), return_exceptions=True)

        winners = [outcome for outcome in outcomes if isinstance(outcome, str)]
        losers = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
        assert len(winners) == 1, outcomes
        assert [type(error).__name__ for error in losers] == ["ConcurrencyError"]
        stored = await clean_backend.repository("notes").get_by_id(note.id)
        assert (stored.body, stored.version) == (winners[0], 2)


async def test_a_unit_of_work_filter_and_update_where_run_inside_it(clean_backend: Backend) -> None:
    await clean_backend.repository("notes").bulk_create([Note(title=f"n{n}") for n in range(4)])

    async with clean_backend.unit_of_work() as uow:
        notes = clean_backend.repository("notes", uow)
        changed = await notes.update_where([Filter("title", "in", ["n1", "n2"])], {"body": "x"})
        assert changed == 2

    assert await clean_backend.repository("notes").count([Filter("body", "eq", "x")]) == 0

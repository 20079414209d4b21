"""Columns the repository keeps itself: timestamps, audit, version, soft delete."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fastapi_building_blocks import (
    ConcurrencyError,
    Filter,
    InvalidValueError,
    NotFoundError,
    acting_as,
)
from tests.schema import Note

LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


async def test_create_sets_every_managed_column_whatever_the_input_says(notes: Any) -> None:
    before = datetime.now(UTC)
    forged = Note(
        title="n", created_at=LONG_AGO, updated_at=LONG_AGO, created_by="mallory",
        updated_by="mallory", deleted_at=LONG_AGO, version=99,
    )  # fmt: skip

    with acting_as("alice"):
        created = await notes.create(forged)
    stored = await notes.get_by_id(created.id)

    assert stored == created
    assert before <= stored.created_at <= datetime.now(UTC)
    assert stored.updated_at == stored.created_at
    assert (stored.created_by, stored.updated_by) == ("alice", "alice")
    assert (stored.deleted_at, stored.version) == (None, 1)


async def test_timestamps_come_back_as_aware_utc(notes: Any) -> None:
    created = await notes.create(Note(title="n"))

    stored = await notes.get_by_id(created.id)

    assert stored.created_at.tzinfo is not None
    assert stored.created_at.utcoffset() == timedelta(0)


async def test_update_moves_updated_at_and_keeps_the_creation_facts(notes: Any) -> None:
    with acting_as("alice"):
        created = await notes.create(Note(title="n"))

    with acting_as("bob"):
        updated = await notes.update(
            replace(created, body="new", created_at=LONG_AGO, created_by="eve")
        )
    stored = await notes.get_by_id(created.id)

    assert stored.updated_at > created.updated_at
    assert (stored.created_at, stored.created_by) == (created.created_at, "alice")
    assert (stored.updated_by, stored.version, stored.body) == ("bob", 2, "new")
    assert (updated.version, updated.updated_by) == (2, "bob")


async def test_audit_columns_follow_each_tasks_own_actor(notes: Any) -> None:
    async def create_as(actor: str) -> Any:
        with acting_as(actor):
            await asyncio.sleep(0)  # let the other tasks interleave
            return await notes.create(Note(title=f"by-{actor}"))

    created = await asyncio.gather(*(create_as(f"user-{n}") for n in range(20)))

    for note in created:
        stored = await notes.get_by_id(note.id)
        assert stored.created_by == stored.title.removeprefix("by-")


async def test_update_with_a_stale_version_raises_and_changes_nothing(notes: Any) -> None:
    created = await notes.create(Note(title="n"))
    await notes.update(replace(created, body="first"))

    with pytest.raises(ConcurrencyError):
        await notes.update(replace(created, body="stale"))

    stored = await notes.get_by_id(created.id)
    assert (stored.body, stored.version) == ("first", 2)


async def test_update_with_the_current_version_goes_through_each_time(notes: Any) -> None:
    note = await notes.create(Note(title="n"))

    for body in ("a", "b", "c"):
        note = await notes.update(replace(note, body=body))

    assert (await notes.get_by_id(note.id)).version == 4


@pytest.mark.parametrize("named", [None, "two", 1.5, 2**63], ids=repr)
async def test_update_naming_no_version_or_one_the_column_cannot_hold_is_refused(
    notes: Any, named: Any
) -> None:
    created = await notes.create(Note(title="n"))

    with pytest.raises(InvalidValueError) as refused:
        await notes.update(replace(created, body="changed", version=named))

    assert refused.value.columns == ("version",)
    stored = await notes.get_by_id(created.id)
    assert (stored.body, stored.version) == ("", 1)


async def test_update_of_a_missing_versioned_row_is_not_found(notes: Any) -> None:
    with pytest.raises(NotFoundError):
        await notes.update(Note(title="ghost"))


async def test_delete_soft_deletes_and_every_read_hides_the_row(notes: Any) -> None:
    kept = await notes.create(Note(title="kept", body="x"))
    gone = await notes.create(Note(title="gone", body="x"))

    await notes.delete(gone.id)

    assert await notes.get(gone.id) is None
    with pytest.raises(NotFoundError):
        await notes.get_by_id(gone.id)
    assert [n.id for n in await notes.list()] == [kept.id]
    assert await notes.count() == 1
    assert await notes.exists([Filter("title", "eq", "gone")]) is False
    assert (await notes.search()).total == 1
    assert [n.id for n in (await notes.keyset_page(sort=["title"])).items] == [kept.id]
    assert await notes.find_one([Filter("body", "eq", "x")]) == kept


async def test_filtering_on_deleted_at_finds_deleted_rows(notes: Any) -> None:
    gone = await notes.create(Note(title="gone"))
    await notes.delete(gone.id)

    deleted = await notes.list([Filter("deleted_at", "is_null", False)])

    assert [n.id for n in deleted] == [gone.id]
    assert deleted[0].deleted_at is not None


async def test_a_soft_deleted_row_cannot_be_updated_or_deleted_again(notes: Any) -> None:
    gone = await notes.create(Note(title="gone"))
    await notes.delete(gone.id)

    with pytest.raises(NotFoundError):
        await notes.update(replace(gone, body="zombie"))
    with pytest.raises(NotFoundError):
        await notes.delete(gone.id)


async def test_restore_brings_a_deleted_row_back(notes: Any) -> None:
    note = await notes.create(Note(title="back"))
    await notes.delete(note.id)

    restored = await notes.restore(note.id)

    assert restored.deleted_at is None
    assert await notes.count() == 1
    with pytest.raises(NotFoundError):
        await notes.restore(note.id)  # it is not deleted any more


async def test_hard_delete_really_removes_the_row(notes: Any) -> None:
    note = await notes.create(Note(title="n"))
    await notes.delete(note.id)

    await notes.hard_delete(note.id)

    assert await notes.count([Filter("deleted_at", "is_null", False)]) == 0
    with pytest.raises(NotFoundError):
        await notes.hard_delete(note.id)


async def test_delete_where_soft_deletes_the_matching_rows(notes: Any) -> None:
    await notes.bulk_create([Note(title=f"n{n}", body="old" if n < 3 else "new") for n in range(5)])

    removed = await notes.delete_where([Filter("body", "eq", "old")])

    assert removed == 3
    assert await notes.count() == 2
    assert await notes.count([Filter("deleted_at", "is_null", False)]) == 3


async def test_restore_and_hard_delete_need_a_soft_delete_column(things: Any) -> None:
    with pytest.raises(TypeError):
        await things.restore(uuid.uuid4())
    with pytest.raises(TypeError):
        await things.hard_delete(uuid.uuid4())


async def test_upsert_keeps_creation_facts_and_increments_the_version(notes: Any) -> None:
    with acting_as("alice"):
        first = await notes.upsert(Note(title="n", body="one"))
    with acting_as("bob"):
        second = await notes.upsert(replace(first, body="two"), conflict_columns=["title"])

    assert (second.body, second.version) == ("two", 2)
    assert (second.created_by, second.updated_by) == ("alice", "bob")
    assert second.created_at == first.created_at

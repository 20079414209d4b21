"""Values and requests at the edge of what the backends can take: each refused the same
way on every backend, with a typed error naming the field, and nothing stored."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from fastapi_building_blocks import (
    ConcurrencyError,
    Filter,
    InMemoryRepository,
    InvalidFilterError,
    InvalidValueError,
    NotFoundError,
    SQLAlchemyRepository,
    UniqueViolationError,
)
from fastapi_building_blocks.repository.operators import MAX_PATTERN_LENGTH
from fastapi_building_blocks.repository.policy import MAX_FILTERS
from tests.contract.conftest import make_thing
from tests.schema import File, Folder, Note, Parent, key_of, notes

TOO_LONG = "x" * 101  # things.name is Unicode(100)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": TOO_LONG}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"note": "lone \ud800 surrogate"}, "note"),
        ({"score": 2**31}, "score"),
        ({"rank": -(2**31) - 1}, "rank"),
        ({"price": Decimal("1e10")}, "price"),  # Numeric(12, 2): ten whole digits at most
        ({"price": Decimal("NaN")}, "price"),
        ({"happened_at": datetime(999, 12, 31, tzinfo=UTC)}, "happened_at"),
        ({"payload": {"text": "a\x00b"}}, "payload"),
    ],
)
async def test_a_value_some_backend_cannot_store_is_refused_on_all_of_them(
    things: Any, overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidValueError) as refused:
        await things.create(make_thing(1, **overrides))

    assert refused.value.columns == (field,)
    assert await things.count() == 0


async def test_bulk_create_with_one_bad_value_stores_none(things: Any) -> None:
    rows = [make_thing(1), make_thing(2, name=TOO_LONG)]

    with pytest.raises(InvalidValueError):
        await things.bulk_create(rows)

    assert await things.count() == 0


async def test_an_update_past_the_version_range_is_refused_naming_version(notes: Any) -> None:
    note = await notes.create(Note(title="n"))

    with pytest.raises(InvalidValueError) as refused:
        await notes.update(replace(note, body="b", version=2**40))

    assert refused.value.columns == ("version",)
    assert (await notes.get_by_id(note.id)).body == ""


@pytest.mark.parametrize(
    ("filter_", "field"),
    [
        (Filter("score", "eq", 2**40), "score"),
        (Filter("name", "eq", "a\x00b"), "name"),
        (Filter("name", "contains", "a\x00b"), "name"),
        (Filter("name", "contains", "\ud800"), "name"),
        (Filter("name", "contains", "x" * (MAX_PATTERN_LENGTH + 1)), "name"),
        (Filter("happened_at", "gt", "0001-01-01T00:00:00+14:00"), "happened_at"),
        (Filter("happened_at", "lt", "9999-12-31T23:59:59-14:00"), "happened_at"),
        (Filter("price", "eq", "NaN"), "price"),
    ],
)
async def test_a_filter_value_no_backend_can_compare_is_a_400(
    things: Any, filter_: Filter, field: str
) -> None:
    with pytest.raises(InvalidFilterError) as refused:
        await things.list([filter_])

    assert refused.value.field == field


async def test_more_filters_than_the_limit_are_refused(things: Any) -> None:
    many = [Filter("score", "ne", n) for n in range(MAX_FILTERS + 1)]

    with pytest.raises(InvalidFilterError, match=f"at most {MAX_FILTERS} filters"):
        await things.list(many)


async def test_as_many_filters_as_the_limit_still_run(things: Any) -> None:
    await things.create(make_thing(1))

    found = await things.list([Filter("score", "ne", -n) for n in range(1, MAX_FILTERS + 1)])

    assert len(found) == 1


@pytest.mark.parametrize(
    ("call", "field"),
    [
        ({"offset": 2**31}, "offset"),
        ({"limit": 2**31}, "offset"),
    ],
)
async def test_an_offset_or_limit_past_what_backends_bind_is_a_400(
    things: Any, call: dict[str, int], field: str
) -> None:
    with pytest.raises(InvalidFilterError) as refused:
        await things.list(**call)

    assert refused.value.field == field


async def test_a_page_past_what_backends_bind_is_a_400_naming_page(things: Any) -> None:
    with pytest.raises(InvalidFilterError) as refused:
        await things.search(page=2**40, page_size=20)

    assert refused.value.field == "page"


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("back\\", ["back\\"]),  # PostgreSQL's default escape character, meaning itself
        ("b%\\", ["back\\"]),
        ("sl/sh", ["sl/sh"]),  # the package's escape character, meaning itself
        ("___", ["a_b"]),
    ],
)
async def test_like_patterns_mean_the_same_on_every_backend(
    things: Any, pattern: str, expected: list[str]
) -> None:
    for number, name in enumerate(["back\\", "sl/sh", "a_b", "back"]):
        await things.create(make_thing(number, name=name))

    found = await things.list([Filter("name", "like", pattern)], sort=["name"])

    assert [thing.name for thing in found] == expected


@pytest.mark.parametrize(
    "cursor",
    [
        "W1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tb" * 40,  # deep nesting
        "eyJzb3J0IjoibmFtZSxpZCIsImFmdGVyIjpbIlx1ZDgwMCIsbnVsbF19",  # a lone surrogate
        "eyJzb3J0IjoibmFtZSxpZCIsImFmdGVyIjpbW10se31dfQ",  # containers, not values
        "eyJzb3J0IjoibmFtZSxpZCIsImFmdGVyIjpbIngiLCJub3QtYS11dWlkIl19",  # a wrong key value
        "x" * 10_000,
        "%%%",
    ],
)
async def test_a_cursor_the_server_did_not_issue_is_a_400(things: Any, cursor: str) -> None:
    with pytest.raises(InvalidFilterError) as refused:
        await things.keyset_page(sort=["name"], cursor=cursor)

    assert refused.value.field == "cursor"


async def test_update_where_refuses_managed_columns(notes: Any) -> None:
    await notes.create(Note(title="n"))

    for managed in ("version", "created_at", "updated_by", "deleted_at"):
        with pytest.raises(InvalidFilterError, match="managed columns"):
            await notes.update_where([Filter("title", "eq", "n")], {managed: None})


async def test_update_where_increments_the_version_so_stale_holders_conflict(notes: Any) -> None:
    note = await notes.create(Note(title="n"))

    await notes.update_where([Filter("title", "eq", "n")], {"body": "bulk"})

    stored = await notes.get_by_id(note.id)
    assert (stored.body, stored.version) == ("bulk", 2)


async def test_update_where_coerces_and_checks_values_as_every_write_does(things: Any) -> None:
    await things.create(make_thing(1))

    await things.update_where([Filter("score", "eq", 1)], {"score": "7"})
    with pytest.raises(InvalidValueError):
        await things.update_where([Filter("score", "eq", 7)], {"name": TOO_LONG})

    assert [thing.score for thing in await things.list()] == [7]


class AllowListedNotes(SQLAlchemyRepository[Note, uuid.UUID]):
    table = notes
    filterable = sortable = ("title",)


class AllowListedMemoryNotes(InMemoryRepository[Note, uuid.UUID]):
    table = notes
    filterable = sortable = ("title",)


async def test_restore_works_whatever_the_allow_list(clean_backend: Any) -> None:
    repository: Any = (
        AllowListedMemoryNotes(clean_backend.memory)
        if clean_backend.session is None
        else AllowListedNotes(clean_backend.session)
    )
    note = await repository.create(Note(title="n"))
    await repository.delete(note.id)

    restored = await repository.restore(note.id)

    assert restored.deleted_at is None


async def test_upsert_onto_a_soft_deleted_row_revives_it(notes: Any) -> None:
    note = await notes.create(Note(title="n", body="old"))
    await notes.delete(note.id)

    revived = await notes.upsert(replace(note, body="new"))

    assert revived.deleted_at is None
    assert (await notes.get_by_id(note.id)).body == "new"


async def test_upsert_clashing_on_another_unique_key_is_a_conflict_everywhere(
    things: Any,
) -> None:
    kept = await things.create(make_thing(1, name="taken"))

    with pytest.raises(UniqueViolationError):
        await things.upsert(make_thing(2, name="taken"))  # new key, another row's name

    assert [(thing.id, thing.score) for thing in await things.list()] == [(kept.id, 1)]


async def test_pattern_operators_fold_ascii_letters_only_except_on_mariadb(things: Any) -> None:
    for number, name in enumerate(["Ärger", "ärger", "ARGON"]):
        await things.create(make_thing(number, name=name))

    folded = [thing.name for thing in await things.list([Filter("name", "contains", "rg")])]
    accented = [thing.name for thing in await things.list([Filter("name", "contains", "ärg")])]

    assert sorted(folded) == ["ARGON", "Ärger", "ärger"]
    # SQLite's LIKE and PostgreSQL's ILIKE (C collation) fold ASCII only; MariaDB folds all.
    folds_all = getattr(getattr(things, "session", None), "system_name", "") == "mariadb"
    expected = ["Ärger", "ärger"] if folds_all else ["ärger"]
    assert sorted(accented) == expected


async def test_server_defaults_fill_in_on_every_backend(clean_backend: Any) -> None:
    folders = clean_backend.repository("folders")

    folder = await folders.create(Folder(label="inbox"))

    assert (folder.status, folder.priority) == ("new", 3)
    assert (await folders.get_by_id(folder.id)).status == "new"


async def test_on_delete_cascade_and_set_null_hold_on_every_backend(clean_backend: Any) -> None:
    folders, files = clean_backend.repository("folders"), clean_backend.repository("files")
    doomed = await folders.create(Folder(label="doomed"))
    kept = await folders.create(Folder(label="kept"))
    inside = await files.create(File(folder_id=doomed.id, label="inside"))
    pointer = await files.create(File(folder_id=kept.id, label="pointer", shortcut_to=doomed.id))

    await folders.delete(doomed.id)

    assert await files.get(inside.id) is None
    assert (await files.get_by_id(pointer.id)).shortcut_to is None


async def test_update_fields_writes_only_the_named_columns_and_returns_the_row(
    notes: Any,
) -> None:
    note = await notes.create(Note(title="t", body="old"))

    updated = await notes.update_fields(note.id, {"body": "new", "version": 1})

    assert (updated.title, updated.body, updated.version) == ("t", "new", 2)
    assert updated.updated_at > note.updated_at
    assert await notes.get_by_id(note.id) == updated


async def test_update_fields_with_a_stale_version_is_a_concurrency_error(notes: Any) -> None:
    note = await notes.create(Note(title="t"))
    await notes.update_fields(note.id, {"body": "first", "version": 1})

    with pytest.raises(ConcurrencyError):
        await notes.update_fields(note.id, {"body": "second", "version": 1})

    assert (await notes.get_by_id(note.id)).body == "first"


async def test_update_fields_without_a_version_still_increments_it(notes: Any) -> None:
    note = await notes.create(Note(title="t"))

    updated = await notes.update_fields(note.id, {"body": "b"})

    assert updated.version == 2


async def test_partial_updates_of_different_columns_both_stay(things: Any) -> None:
    thing = await things.create(make_thing(1))

    await things.update_fields(thing.id, {"note": "from one client"})
    await things.update_fields(thing.id, {"rank": 6})

    stored = await things.get_by_id(thing.id)
    assert (stored.note, stored.rank) == ("from one client", 6)


async def test_update_fields_refuses_managed_columns_and_bad_values(notes: Any) -> None:
    note = await notes.create(Note(title="t"))

    with pytest.raises(InvalidFilterError):
        await notes.update_fields(note.id, {"created_at": None})
    with pytest.raises(InvalidValueError):
        await notes.update_fields(note.id, {"title": "x" * 101})


async def test_update_fields_on_a_missing_or_deleted_row_is_not_found(notes: Any) -> None:
    note = await notes.create(Note(title="t"))
    await notes.delete(note.id)

    with pytest.raises(NotFoundError):
        await notes.update_fields(note.id, {"body": "b"})
    with pytest.raises(NotFoundError):
        await notes.update_fields(uuid.uuid4(), {"body": "b", "version": 1})


async def test_update_fields_with_nothing_to_set_returns_the_row_as_it_is(parents: Any) -> None:
    """A table without managed columns, and no field named: no UPDATE to send."""
    parent = await parents.create(Parent(label="unchanged"))

    assert await parents.update_fields(key_of(parent), {}) == parent
    with pytest.raises(NotFoundError):
        await parents.update_fields(key_of(parent) + 1000, {})

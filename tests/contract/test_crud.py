"""Create, read, update, delete: the same promise on every backend."""

from __future__ import annotations

import uuid
from datetime import timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from fastapi_building_blocks import (
    Filter,
    InvalidFilterError,
    MultipleResultsFoundError,
    NotFoundError,
)
from tests.contract.conftest import BASE_TIME, make_thing
from tests.schema import Child, Parent


async def test_every_column_type_survives_a_round_trip(things: Any) -> None:
    in_tokyo = BASE_TIME.astimezone(timezone(timedelta(hours=9)))
    created = await things.create(
        make_thing(
            1,
            name="Grüße 👋🏽 ok",
            price=Decimal("12345.67"),
            active=True,
            happened_at=in_tokyo,
            payload={"nested": {"list": [1, 2.5, "x", None, True]}, "emoji": "🚀"},
            note="line one\nline two ✓",
        )
    )

    stored = await things.get_by_id(created.id)

    assert stored == created
    assert isinstance(stored.id, uuid.UUID)
    assert stored.price == Decimal("12345.67")
    assert stored.active is True
    assert stored.happened_at == BASE_TIME
    assert stored.happened_at.utcoffset() == timedelta(0)
    assert stored.payload == {"nested": {"list": [1, 2.5, "x", None, True]}, "emoji": "🚀"}
    assert stored.name == "Grüße 👋🏽 ok"


async def test_get_returns_none_and_get_by_id_raises_for_a_missing_key(things: Any) -> None:
    missing = uuid.uuid4()

    assert await things.get(missing) is None
    with pytest.raises(NotFoundError) as raised:
        await things.get_by_id(missing)
    assert raised.value.table == "things"


async def test_a_malformed_key_is_an_invalid_filter(things: Any) -> None:
    with pytest.raises(InvalidFilterError):
        await things.get("not-a-uuid")


async def test_create_fills_an_auto_increment_key(parents: Any) -> None:
    first = await parents.create(Parent(label="one"))
    second = await parents.create(Parent(label="two"))

    assert isinstance(first.id, int)
    assert second.id > first.id
    assert await parents.get_by_id(second.id) == second


async def test_a_custom_mapping_translates_field_names(parents: Any, children: Any) -> None:
    parent = await parents.create(Parent(label="p"))

    child = await children.create(Child(parent=parent.id, title="first"))

    assert await children.get_by_id(child.id) == Child(parent=parent.id, title="first", id=child.id)
    assert await children.list([Filter("label", "eq", "first")]) == [child]


async def test_update_replaces_the_stored_values(things: Any) -> None:
    thing = await things.create(make_thing(1))
    thing.score = 99
    thing.note = "changed"

    await things.update(thing)

    assert await things.get_by_id(thing.id) == thing


async def test_update_without_changes_still_finds_the_row(things: Any) -> None:
    thing = await things.create(make_thing(1))

    assert await things.update(thing) == thing


async def test_update_of_a_missing_row_raises_not_found(things: Any) -> None:
    with pytest.raises(NotFoundError):
        await things.update(make_thing(1))
    assert await things.count() == 0


async def test_update_where_changes_only_matching_rows(things: Any) -> None:
    await things.bulk_create([make_thing(n) for n in range(6)])

    changed = await things.update_where([Filter("category", "eq", "alpha")], {"note": "A"})

    assert changed == 2
    assert await things.count([Filter("note", "eq", "A")]) == 2
    assert await things.count([Filter("note", "is_null", True)]) == 4


async def test_update_where_and_delete_where_refuse_to_touch_every_row(things: Any) -> None:
    await things.create(make_thing(1))

    with pytest.raises(InvalidFilterError):
        await things.update_where([], {"note": "all"})
    with pytest.raises(InvalidFilterError):
        await things.delete_where([])
    assert await things.count() == 1


async def test_update_where_rejects_unknown_fields_and_the_key(things: Any) -> None:
    await things.create(make_thing(1))

    with pytest.raises(InvalidFilterError):
        await things.update_where([Filter("score", "eq", 1)], {"nope": 1})
    with pytest.raises(InvalidFilterError):
        await things.update_where([Filter("score", "eq", 1)], {"id": uuid.uuid4()})


async def test_delete_removes_the_row(things: Any) -> None:
    thing = await things.create(make_thing(1))

    await things.delete(thing.id)

    assert await things.get(thing.id) is None


async def test_delete_of_a_missing_row_raises_not_found(things: Any) -> None:
    with pytest.raises(NotFoundError):
        await things.delete(uuid.uuid4())


async def test_delete_where_returns_how_many_rows_it_removed(things: Any) -> None:
    await things.bulk_create([make_thing(n) for n in range(9)])

    removed = await things.delete_where([Filter("score", "ge", 6)])

    assert removed == 3
    assert await things.count() == 6


async def test_find_one_returns_none_one_or_raises_for_several(things: Any) -> None:
    await things.bulk_create([make_thing(n) for n in range(3)])

    assert await things.find_one([Filter("name", "eq", "missing")]) is None
    found = await things.find_one([Filter("name", "eq", "thing-00001")])
    assert found is not None
    assert found.score == 1
    with pytest.raises(MultipleResultsFoundError):
        await things.find_one([Filter("score", "lt", 2)])


async def test_count_and_exists_follow_the_filters(things: Any) -> None:
    await things.bulk_create([make_thing(n) for n in range(4)])

    assert await things.count() == 4
    assert await things.count([Filter("active", "eq", True)]) == 2
    assert await things.exists([Filter("score", "eq", 3)]) is True
    assert await things.exists([Filter("score", "eq", 30)]) is False


async def test_bulk_create_inserts_ten_thousand_rows(things: Any) -> None:
    inserted = await things.bulk_create(make_thing(n) for n in range(10_000))

    assert inserted == 10_000
    assert await things.count() == 10_000
    assert (await things.find_one([Filter("name", "eq", "thing-09999")])).score == 9_999


async def test_bulk_created_rows_read_back_exactly_like_created_ones(things: Any) -> None:
    in_tokyo = BASE_TIME.astimezone(timezone(timedelta(hours=9)))
    rows = [
        make_thing(n, happened_at=in_tokyo, payload={"n": n, "list": [1, "x"]}, note="✓ 👋")
        for n in range(3)
    ]

    await things.bulk_create(rows)

    for row in rows:
        stored = await things.get_by_id(row.id)
        assert stored == row
        assert stored.happened_at.utcoffset() == timedelta(0)


async def test_bulk_create_generates_auto_increment_keys(parents: Any) -> None:
    await parents.bulk_create([Parent(label=f"p{n}") for n in range(50)])

    stored = await parents.list()

    assert len({parent.id for parent in stored}) == 50
    assert all(isinstance(parent.id, int) for parent in stored)


async def test_bulk_create_mixes_given_and_generated_keys(parents: Any) -> None:
    given = [Parent(label="given", id=1_000_000)]
    await parents.bulk_create([Parent(label="a"), *given, Parent(label="b")])

    stored = {parent.label: parent.id for parent in await parents.list()}

    assert stored["given"] == 1_000_000
    assert isinstance(stored["a"], int)
    assert isinstance(stored["b"], int)
    assert len(set(stored.values())) == 3


async def test_upsert_inserts_then_updates_the_same_row(things: Any) -> None:
    original = make_thing(1)

    inserted = await things.upsert(original)
    original.score = 42
    updated = await things.upsert(original)

    assert inserted.score == 1
    assert updated.score == 42
    assert updated.id == inserted.id
    assert await things.count() == 1


async def test_upsert_on_another_unique_key_updates_the_row_that_holds_it(things: Any) -> None:
    stored = await things.create(make_thing(1))
    replacement = make_thing(1, score=7, id=stored.id)

    result = await things.upsert(replacement, conflict_columns=["name"])

    assert result.score == 7
    assert (await things.get_by_id(stored.id)).score == 7


async def test_upsert_needs_a_unique_key(things: Any) -> None:
    with pytest.raises(InvalidFilterError):
        await things.upsert(make_thing(1), conflict_columns=["category"])
    assert await things.count() == 0

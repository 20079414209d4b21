"""Bad writes raise typed errors that name what broke, and leave the stored data as it was."""

from __future__ import annotations

from typing import Any

import pytest

from fastapi_building_blocks import (
    CheckViolationError,
    ConflictError,
    Filter,
    ForeignKeyViolationError,
    NotNullViolationError,
    UniqueViolationError,
)
from tests.contract.conftest import make_thing
from tests.schema import Child, Parent


async def test_a_duplicate_unique_value_is_a_conflict_naming_the_column(things: Any) -> None:
    original = await things.create(make_thing(1))

    with pytest.raises(UniqueViolationError) as raised:
        await things.create(make_thing(2, name=original.name))

    assert isinstance(raised.value, ConflictError)
    assert raised.value.columns == ("name",)
    assert raised.value.table == "things"
    assert await things.count() == 1
    assert await things.get_by_id(original.id) == original


async def test_a_duplicate_primary_key_is_a_conflict_naming_the_key(things: Any) -> None:
    original = await things.create(make_thing(1))

    with pytest.raises(UniqueViolationError) as raised:
        await things.create(make_thing(2, id=original.id))

    assert raised.value.columns == ("id",)
    assert await things.get_by_id(original.id) == original


async def test_updating_into_a_taken_unique_value_keeps_both_rows(things: Any) -> None:
    first = await things.create(make_thing(1))
    second = await things.create(make_thing(2))

    with pytest.raises(UniqueViolationError) as raised:
        await things.update(make_thing(2, name=first.name, id=second.id))

    assert raised.value.columns == ("name",)
    assert await things.get_by_id(second.id) == second


async def test_a_missing_required_value_names_the_column(things: Any) -> None:
    with pytest.raises(NotNullViolationError) as raised:
        await things.create(make_thing(1, category=None))

    assert raised.value.columns == ("category",)
    assert await things.count() == 0


async def test_a_reference_to_a_missing_row_is_a_foreign_key_conflict(children: Any) -> None:
    with pytest.raises(ForeignKeyViolationError) as raised:
        await children.create(Child(parent=123456, title="orphan"))

    assert isinstance(raised.value, ConflictError)
    assert raised.value.columns == ("parent_id",)
    assert "parent_id refers to a row that does not exist" in str(raised.value)
    assert await children.count() == 0


async def test_deleting_a_referenced_row_is_refused_and_keeps_it(
    parents: Any, children: Any
) -> None:
    parent = await parents.create(Parent(label="kept"))
    await children.create(Child(parent=parent.id, title="child"))

    with pytest.raises(ForeignKeyViolationError) as raised:
        await parents.delete(parent.id)

    assert raised.value.columns == ()  # no field of the request is at fault
    assert "still referenced from children" in str(raised.value)
    assert await parents.get_by_id(parent.id) == parent


@pytest.mark.backend(
    "sqlite", "postgresql", "mariadb", "mssql", reason="CHECK is SQL text, not evaluated in memory"
)
async def test_a_check_constraint_violation_is_typed(things: Any) -> None:
    with pytest.raises(CheckViolationError):
        await things.create(make_thing(1, score=-1))
    assert await things.count() == 0


async def test_a_failing_bulk_create_inserts_nothing(things: Any) -> None:
    await things.create(make_thing(500))
    batch = [make_thing(n) for n in range(1_000)]  # thing-00500 is taken

    with pytest.raises(UniqueViolationError) as raised:
        await things.bulk_create(batch, batch_size=100)

    assert raised.value.columns == ("name",)
    assert await things.count() == 1


async def test_a_failing_update_where_changes_nothing(things: Any) -> None:
    await things.bulk_create([make_thing(n) for n in range(3)])

    with pytest.raises(NotNullViolationError):
        await things.update_where([Filter("score", "ge", 0)], {"category": None})

    assert await things.count([Filter("category", "is_null", True)]) == 0

"""`any_of` / `all_of` groups: OR and AND, nestable, the same rows on every backend."""

from __future__ import annotations

from typing import Any

import pytest

from fastapi_building_blocks import Filter, InvalidFilterError, all_of, any_of
from fastapi_building_blocks.repository.policy import MAX_GROUP_DEPTH
from tests.contract.conftest import make_thing
from tests.schema import Note


@pytest.fixture
async def twelve(things: Any) -> Any:
    await things.bulk_create([make_thing(n) for n in range(12)])
    return things


async def scores_matching(things: Any, *filters: Any, **options: Any) -> list[int]:
    return [thing.score for thing in await things.list(list(filters), sort=["score"], **options)]


async def test_any_of_holds_when_one_member_holds(twelve: Any) -> None:
    found = await scores_matching(
        twelve, any_of(Filter("score", "lt", 2), Filter("score", "gt", 9))
    )

    assert found == [0, 1, 10, 11]


async def test_a_group_and_a_plain_filter_both_hold(twelve: Any) -> None:
    found = await scores_matching(
        twelve,
        any_of(Filter("score", "lt", 4), Filter("score", "gt", 8)),
        Filter("active", "eq", True),
    )

    assert found == [0, 2, 10]


async def test_all_of_inside_any_of_nests(twelve: Any) -> None:
    group = any_of(
        all_of(Filter("category", "eq", "alpha"), Filter("score", "gt", 6)),
        Filter("score", "eq", 1),
        any_of(Filter("rank", "is_null", True), Filter("name", "startswith", "THING-00004")),
    )

    assert await scores_matching(twelve, group) == [0, 1, 4, 5, 9, 10]


async def test_groups_count_pages_and_keyset_pages_alike(twelve: Any) -> None:
    group = any_of(Filter("score", "le", 2), Filter("score", "ge", 8))

    page = await twelve.search([group], sort=["score"], page=2, page_size=3)
    keyset = await twelve.keyset_page([group], sort=["score"], limit=4)
    more = await twelve.keyset_page([group], sort=["score"], limit=4, cursor=keyset.next_cursor)

    assert (page.total, [t.score for t in page.items]) == (7, [8, 9, 10])
    assert [t.score for t in keyset.items + more.items] == [0, 1, 2, 8, 9, 10, 11]
    assert await twelve.count([group]) == 7


async def test_a_group_in_a_delete_where_deletes_only_its_rows(twelve: Any) -> None:
    deleted = await twelve.delete_where(
        [any_of(Filter("score", "eq", 3), Filter("score", "eq", 5))]
    )

    assert deleted == 2
    assert 3 not in await scores_matching(twelve)


async def test_soft_deleted_rows_stay_hidden_behind_a_group(notes: Any) -> None:
    kept = await notes.create(Note(title="kept"))
    gone = await notes.create(Note(title="gone"))
    await notes.delete(gone.id)

    found = await notes.list([any_of(Filter("title", "eq", "kept"), Filter("title", "eq", "gone"))])

    assert [note.id for note in found] == [kept.id]


async def test_the_same_shape_with_other_values_gives_other_rows(twelve: Any) -> None:
    def group(low: int, high: int) -> Any:
        return any_of(Filter("score", "lt", low), Filter("score", "gt", high))

    assert await scores_matching(twelve, group(1, 10)) == [0, 11]
    assert await scores_matching(twelve, group(2, 9)) == [0, 1, 10, 11]


@pytest.mark.parametrize(
    ("group", "message"),
    [
        (any_of(), "needs at least one filter"),
        (any_of(Filter("nope", "eq", 1)), "cannot filter on 'nope'"),
        (any_of(*(Filter("score", "eq", n) for n in range(51))), "at most 50 filters"),
        (
            any_of(any_of(any_of(any_of(any_of(any_of(Filter("score", "eq", 1))))))),
            f"nest at most {MAX_GROUP_DEPTH} deep",
        ),
    ],
)
async def test_groups_are_checked_like_every_filter(things: Any, group: Any, message: str) -> None:
    with pytest.raises(InvalidFilterError, match=message):
        await things.list([group])

"""Filters, sorting and both kinds of pages: identical results on every backend."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from fastapi_building_blocks import Filter, InvalidFilterError, Sort
from tests.contract.conftest import BASE_TIME, make_thing

# Twelve rows: score n, category by n % 3, active for even n, rank NULL for n % 5 == 0.
SCORES = range(12)


@pytest.fixture
async def twelve(things: Any) -> Any:
    await things.bulk_create(
        [make_thing(n, note="50% off_sale" if n == 7 else f"Note {n}") for n in SCORES]
    )
    return things


def scores(entities: list[Any]) -> list[int]:
    return [entity.score for entity in entities]


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        (Filter("score", "eq", 3), [3]),
        (Filter("score", "eq", "3"), [3]),  # values are coerced by column type
        (Filter("score", "ne", 3), [n for n in SCORES if n != 3]),
        (Filter("score", "lt", 2), [0, 1]),
        (Filter("score", "le", 2), [0, 1, 2]),
        (Filter("score", "gt", 9), [10, 11]),
        (Filter("score", "ge", 9), [9, 10, 11]),
        (Filter("score", "in", [1, 4, 99]), [1, 4]),
        (Filter("score", "in", []), []),
        (Filter("score", "not_in", [0, 1, 2, 3, 4, 5, 6, 7, 8]), [9, 10, 11]),
        (Filter("score", "between", [4, 6]), [4, 5, 6]),
        (Filter("name", "like", "THING-0001_"), [10, 11]),
        (Filter("note", "like", "%off%"), [7]),
        (Filter("note", "contains", "% OFF_"), [7]),  # % and _ are literal here
        (Filter("note", "contains", "note 1"), [1, 10, 11]),
        (Filter("note", "startswith", "NOTE 1"), [1, 10, 11]),
        (Filter("note", "startswith", "50%"), [7]),
        (Filter("rank", "is_null", True), [0, 5, 10]),
        (Filter("rank", "is_null", "false"), [n for n in SCORES if n % 5]),
        (
            Filter("rank", "ne", 1),
            [n for n in SCORES if n % 5 and n % 7 != 1],
        ),  # NULL never matches
        (Filter("rank", "not_in", [1, 2]), [n for n in SCORES if n % 5 and n % 7 not in (1, 2)]),
        (Filter("active", "eq", True), [0, 2, 4, 6, 8, 10]),
        (Filter("active", "eq", "false"), [1, 3, 5, 7, 9, 11]),
        (Filter("price", "gt", Decimal("2.5")), [11]),
        (Filter("price", "le", "0.5"), [0, 1, 2]),
        (Filter("happened_at", "lt", BASE_TIME + timedelta(minutes=2)), [0, 1]),
        (Filter("happened_at", "ge", (BASE_TIME + timedelta(minutes=10)).isoformat()), [10, 11]),
        (Filter("category", "in", ["beta", "gamma"]), [n for n in SCORES if n % 3]),
    ],
    ids=lambda value: f"{value.field}-{value.op}" if isinstance(value, Filter) else None,
)
async def test_each_operator_selects_the_rows_sql_would(
    twelve: Any, filter_: Filter, expected: list[int]
) -> None:
    assert scores(await twelve.list([filter_], sort=["score"])) == expected


async def test_filters_combine_with_and(twelve: Any) -> None:
    found = await twelve.list(
        [Filter("active", "eq", True), Filter("score", "gt", 5)], sort=["score"]
    )

    assert scores(found) == [6, 8, 10]


@pytest.mark.parametrize(
    "filter_",
    [
        Filter("nope", "eq", 1),  # unknown field
        Filter("score", "regex", ".*"),  # unknown operator
        Filter("score", "eq", "three"),  # not an integer
        Filter("id", "eq", "not-a-uuid"),
        Filter("happened_at", "gt", "yesterday"),
        Filter("payload", "eq", "{}"),  # JSON is not comparable
        Filter("score", "contains", "1"),  # pattern on a number
        Filter("note", "contains", 1),  # pattern with a non-text value
        Filter("score", "in", "1,2"),  # a string is not a list
        Filter("score", "in", list(range(1_001))),  # too long
        Filter("score", "between", [1]),
        Filter("score", "between", [1, None]),
        Filter("score", "eq", None),  # NULL needs is_null
        Filter("score", "in", [1, None]),
        Filter("rank", "is_null", "maybe"),
    ],
    ids=repr,
)
async def test_a_bad_filter_is_an_invalid_filter_error(twelve: Any, filter_: Filter) -> None:
    with pytest.raises(InvalidFilterError):
        await twelve.list([filter_])


async def test_sorting_works_in_both_directions(twelve: Any) -> None:
    ascending = await twelve.list(sort=["score"])
    descending = await twelve.list(sort=[Sort("score", descending=True)])

    assert scores(ascending) == list(SCORES)
    assert scores(descending) == list(reversed(SCORES))


async def test_null_sorts_first_ascending_and_last_descending(twelve: Any) -> None:
    ascending = await twelve.list(sort=["rank", "score"])
    descending = await twelve.list(sort=["-rank", "score"])

    assert scores(ascending)[:3] == [0, 5, 10]
    assert scores(descending)[-3:] == [0, 5, 10]
    assert [t.rank for t in descending][:3] == [6, 4, 4]


async def test_several_sort_keys_apply_in_order(twelve: Any) -> None:
    found = await twelve.list(sort=["-category", "-score"])

    assert scores(found) == [11, 8, 5, 2, 10, 7, 4, 1, 9, 6, 3, 0]


async def test_ties_are_broken_by_the_key_in_the_direction_of_the_last_sort_key(
    things: Any,
) -> None:
    tied = [make_thing(n, score=7) for n in range(4)]
    await things.bulk_create(tied)
    keys = sorted(thing.id for thing in tied)

    ascending = await things.list(sort=["score"])
    descending = await things.list(sort=["-score"])

    assert [thing.id for thing in ascending] == keys
    assert [thing.id for thing in descending] == keys[::-1]  # an index scan backwards


@pytest.mark.parametrize("sort", [["nope"], ["payload"], ["score", "-score"]])
async def test_a_bad_sort_is_an_invalid_filter_error(twelve: Any, sort: list[str]) -> None:
    with pytest.raises(InvalidFilterError):
        await twelve.list(sort=sort)


async def test_limit_and_offset_slice_the_sorted_rows(twelve: Any) -> None:
    assert scores(await twelve.list(sort=["score"], limit=3, offset=4)) == [4, 5, 6]


async def test_search_reports_the_page_and_the_totals(twelve: Any) -> None:
    page = await twelve.search([Filter("score", "ge", 2)], sort=["score"], page=2, page_size=4)

    assert scores(page.items) == [6, 7, 8, 9]
    assert (page.total, page.page, page.page_size, page.total_pages) == (10, 2, 4, 3)


async def test_a_page_past_the_end_is_empty(twelve: Any) -> None:
    page = await twelve.search(page=9, page_size=5)

    assert page.items == []
    assert page.total == 12


@pytest.mark.parametrize(("page", "page_size"), [(0, 10), (1, 0), (1, 1_001), (-1, 10)])
async def test_an_impossible_page_is_an_invalid_filter_error(
    twelve: Any, page: int, page_size: int
) -> None:
    with pytest.raises(InvalidFilterError):
        await twelve.search(page=page, page_size=page_size)


async def test_keyset_pages_end_with_no_cursor(twelve: Any) -> None:
    first = await twelve.keyset_page(sort=["score"], limit=5)
    second = await twelve.keyset_page(sort=["score"], cursor=first.next_cursor, limit=5)
    third = await twelve.keyset_page(sort=["score"], cursor=second.next_cursor, limit=5)

    assert scores(first.items + second.items + third.items) == list(SCORES)
    assert third.next_cursor is None


@pytest.mark.parametrize("cursor", ["garbage", "eyJ4IjoxfQ", "", "e30"])
async def test_a_forged_cursor_is_an_invalid_filter_error(twelve: Any, cursor: str) -> None:
    with pytest.raises(InvalidFilterError):
        await twelve.keyset_page(sort=["score"], cursor=cursor)


async def test_a_cursor_cannot_be_replayed_under_another_sort(twelve: Any) -> None:
    page = await twelve.keyset_page(sort=["score"], limit=2)

    with pytest.raises(InvalidFilterError):
        await twelve.keyset_page(sort=["-score"], cursor=page.next_cursor)


async def many(things: Any, count: int) -> list[Any]:
    rows = [make_thing(n, rank=None if n % 4 == 0 else n % 11) for n in range(count)]
    await things.bulk_create(rows)
    return rows


@pytest.mark.parametrize(
    "sort", [[], ["-score"], ["category", "-rank"], ["-active", "rank", "-happened_at"]]
)
async def test_keyset_paging_visits_every_row_once_in_sort_order(
    things: Any, sort: list[str]
) -> None:
    await many(things, 3_000)
    expected = [t.id for t in await things.list(sort=sort)]

    seen: list[Any] = []
    cursor = None
    while True:
        page = await things.keyset_page(sort=sort, cursor=cursor, limit=137)
        seen.extend(t.id for t in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break

    assert seen == expected
    assert len(set(seen)) == 3_000


async def test_offset_paging_visits_every_row_once(things: Any) -> None:
    await many(things, 3_000)

    seen: list[Any] = []
    first = await things.search(sort=["category", "-rank"], page=1, page_size=250)
    for number in range(1, first.total_pages + 1):
        page = await things.search(sort=["category", "-rank"], page=number, page_size=250)
        seen.extend(t.id for t in page.items)

    assert first.total_pages == 12
    assert len(seen) == len(set(seen)) == 3_000


async def test_keyset_paging_respects_filters(things: Any) -> None:
    await many(things, 300)

    page = await things.keyset_page([Filter("category", "eq", "beta")], sort=["-score"], limit=50)
    rest = await things.keyset_page(
        [Filter("category", "eq", "beta")], sort=["-score"], cursor=page.next_cursor, limit=100
    )

    assert len(page.items) + len(rest.items) == 100
    assert rest.next_cursor is None
    assert all(t.category == "beta" for t in page.items + rest.items)

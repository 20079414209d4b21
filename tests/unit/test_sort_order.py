"""Checking a sort: each request's order is made once and handed out again, while every
bad sort is refused every time it is asked for."""

from __future__ import annotations

import pytest

from fastapi_building_blocks import InvalidFilterError, Sort
from fastapi_building_blocks.repository.policy import QueryPolicy
from tests.schema import things


@pytest.fixture
def policy() -> QueryPolicy:
    return QueryPolicy(things, None, None)


def test_a_sort_ends_with_the_key_in_the_direction_of_its_last_field(policy: QueryPolicy) -> None:
    order = policy.check_sort(["-score"])

    assert list(order) == [Sort("score", descending=True), Sort("id", descending=True)]
    assert order.signature == "-score,-id"


def test_a_lone_string_is_one_sort_key(policy: QueryPolicy) -> None:
    assert policy.check_sort("-score") == policy.check_sort(["-score"])


def test_the_same_sort_asked_again_is_the_same_order(policy: QueryPolicy) -> None:
    assert policy.check_sort(["-score"]) is policy.check_sort(("-score",))


@pytest.mark.parametrize("sort", [["nope"], ["score", "-score"], [["score"]], [7]])
def test_a_bad_sort_is_refused_each_time_it_is_asked_for(
    policy: QueryPolicy, sort: list[object]
) -> None:
    for _ in range(2):
        with pytest.raises(InvalidFilterError):
            policy.check_sort(sort)  # type: ignore[arg-type]

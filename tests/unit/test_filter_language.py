"""The query-string filter language, parsed into filters and groups (no I/O)."""

from __future__ import annotations

import re

import pytest

from fastapi_building_blocks import Filter, InvalidFilterError, all_of, any_of
from fastapi_building_blocks.fastapi import parse_filters
from fastapi_building_blocks.fastapi.filter_language import FILTER_PATTERN


@pytest.mark.parametrize(
    ("expression", "parsed"),
    [
        ("last_name:eq:Test", Filter("last_name", "eq", "Test")),
        ("note:eq:a|b)c", Filter("note", "eq", "a|b)c")),  # outside a group: verbatim
        ("url:eq:http://x", Filter("url", "eq", "http://x")),
        ("score:in:1,2,3", Filter("score", "in", ["1", "2", "3"])),
        ("score:between:1,5", Filter("score", "between", ["1", "5"])),
        ("name:contains:a,b", Filter("name", "contains", "a,b")),
        (
            "any(first_name:contains:al|last_name:contains:al)",
            any_of(Filter("first_name", "contains", "al"), Filter("last_name", "contains", "al")),
        ),
        (
            "any(all(category:eq:alpha|score:gt:6)|score:eq:1)",
            any_of(
                all_of(Filter("category", "eq", "alpha"), Filter("score", "gt", "6")),
                Filter("score", "eq", "1"),
            ),
        ),
        (
            r"any(note:eq:a\|b|note:eq:\(x\)\\)",
            any_of(Filter("note", "eq", "a|b"), Filter("note", "eq", "(x)\\")),
        ),
        ("any(note:eq:)", any_of(Filter("note", "eq", ""))),
    ],
)
def test_expressions_parse_into_filters_and_groups(expression: str, parsed: object) -> None:
    assert parse_filters([expression]) == [parsed]
    assert re.search(FILTER_PATTERN, expression)


@pytest.mark.parametrize(
    "expression",
    ["nothing", "any(a:eq:1", "any(a:eq:1)x", "any(a:eq:(1))", "any(|a:eq:1)", "all()", ":eq:1"],
)
def test_malformed_expressions_are_invalid_filters(expression: str) -> None:
    with pytest.raises(InvalidFilterError):
        parse_filters([expression])

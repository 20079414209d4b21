"""In-memory pattern matching keeps a bounded number of compiled patterns: the patterns
come from clients, and a client that sends a new one with every request must not grow
the process without end."""

from __future__ import annotations

from fastapi_building_blocks.repository import operators
from fastapi_building_blocks.repository.operators import OPERATORS, PATTERNS_KEPT


def test_distinct_patterns_beyond_the_bound_keep_only_the_bound() -> None:
    contains = OPERATORS["contains"]
    matched = [contains.matches(f"text {n}", f"{n}") for n in range(3 * PATTERNS_KEPT)]

    assert all(matched)
    assert operators._like_regex.cache_info().currsize <= PATTERNS_KEPT
    assert operators._like_pattern.cache_info().currsize <= PATTERNS_KEPT

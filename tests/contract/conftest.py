from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import Backend
from tests.schema import Thing

BASE_TIME = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def make_thing(number: int, **overrides: Any) -> Thing:
    values: dict[str, Any] = {
        "name": f"thing-{number:05d}",
        "category": ("alpha", "beta", "gamma")[number % 3],
        "score": number,
        "price": Decimal(number) / 4,
        "active": number % 2 == 0,
        "happened_at": BASE_TIME + timedelta(minutes=number),
        "payload": {"n": number},
        "note": None,
        "rank": None if number % 5 == 0 else number % 7,
    }
    values.update(overrides)
    return Thing(**values)


@pytest.fixture
def things(clean_backend: Backend) -> Any:
    return clean_backend.repository("things")


@pytest.fixture
def parents(clean_backend: Backend) -> Any:
    return clean_backend.repository("parents")


@pytest.fixture
def children(clean_backend: Backend) -> Any:
    return clean_backend.repository("children")


@pytest.fixture
def notes(clean_backend: Backend) -> Any:
    return clean_backend.repository("notes")


__all__ = ["BASE_TIME", "make_thing", "timezone"]

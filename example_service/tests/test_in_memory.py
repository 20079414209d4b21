"""Unit tests on in-memory repositories: the same contract as SQL, no database at all.

An `InMemoryRepository` of a table honours its constraints (unique, foreign keys),
managed columns and the filter language, so domain code can be tested in microseconds.
"""

from __future__ import annotations

import uuid

import pytest

from example_service.app.domain.user import User
from example_service.app.infrastructure.tables import users
from fastapi_building_blocks import (
    Filter,
    InMemoryDatabase,
    InMemoryRepository,
    UniqueViolationError,
    any_of,
)


class InMemoryUsers(InMemoryRepository[User, uuid.UUID]):
    table = users


def a_user(username: str, first_name: str = "Ada", last_name: str = "Lovelace") -> User:
    return User(first_name, last_name, f"{username}@example.com", username)


async def test_a_stored_user_gets_its_managed_columns() -> None:
    repository = InMemoryUsers(InMemoryDatabase())

    stored = await repository.create(a_user("ada"))

    assert stored.created_at is not None
    assert stored.version == 1
    assert await repository.get(stored.id) == stored


async def test_the_same_email_twice_is_refused_as_the_database_would() -> None:
    repository = InMemoryUsers(InMemoryDatabase())
    await repository.create(a_user("ada"))

    with pytest.raises(UniqueViolationError):
        await repository.create(User("Other", "Person", "ADA@example.com", "other"))


async def test_filters_and_groups_select_as_in_sql() -> None:
    repository = InMemoryUsers(InMemoryDatabase())
    for name, first, last in (("ada", "Ada", "Lovelace"), ("alan", "Alan", "Turing"),
                              ("grace", "Grace", "Hopper")):  # fmt: skip
        await repository.create(a_user(name, first, last))

    either = any_of(Filter("first_name", "contains", "ra"), Filter("last_name", "eq", "Turing"))
    found = await repository.list([either], sort=["username"])

    assert [user.username for user in found] == ["alan", "grace"]

"""Pages map rows to entities as `_row_to_entity` does, whatever shape the entity has.

A plain dataclass whose fields are the columns is built positionally (faster on a page);
every other shape goes through `_row_to_entity`. Each case is checked on SQLite and in
memory: both share the mapping.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import Column, Integer, String, Table

from fastapi_building_blocks import (
    InMemoryDatabase,
    InMemoryRepository,
    SQLAlchemyRepository,
    SQLAlchemySession,
    metadata,
)

schema = metadata()
pets = Table(
    "pets", schema,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("name", String(50), nullable=False),
    Column("legs", Integer, nullable=False),
)  # fmt: skip


@dataclasses.dataclass
class Pet:  # fields in another order than the columns
    legs: int
    name: str
    id: int


@dataclasses.dataclass
class KeywordPet:
    id: int
    name: str = dataclasses.field(kw_only=True)
    legs: int = dataclasses.field(kw_only=True)


@dataclasses.dataclass
class NicknamedPet:  # one field is no column: it keeps its default
    id: int
    name: str
    legs: int
    nickname: str = "none"


class ModelPet(BaseModel):
    id: int
    name: str
    legs: int


@dataclasses.dataclass
class LoudPet:
    id: int
    name: str
    legs: int


def repository_of(entity: type[Any], store: str) -> type[Any]:
    """A repository class of `pets` for `entity`, on SQLite or in memory."""
    if store == "sqlite":

        class SQLPets(SQLAlchemyRepository[entity, int]):  # type: ignore[valid-type]
            table = pets

        return SQLPets

    class MemoryPets(InMemoryRepository[entity, int]):  # type: ignore[valid-type]
        table = pets

    return MemoryPets


def shouting(repository: type[Any]) -> type[Any]:
    """A subclass that overrides the mapping only (the table is bound by its parent)."""

    class Shouting(repository):  # type: ignore[misc]
        def _row_to_entity(self, row: Any) -> LoudPet:
            return LoudPet(id=row["id"], name=row["name"].upper(), legs=row["legs"])

    return Shouting


@pytest.fixture(params=["sqlite", "memory"])
def store(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def three_pages(repository_type: type[Any], entity: type[Any], directory: Path) -> list[Any]:
    """Three pets created, then read back by `list`, `search` and `keyset_page`."""

    async def main() -> list[Any]:
        if issubclass(repository_type, InMemoryRepository):
            return await read(repository_type(InMemoryDatabase()))
        session = SQLAlchemySession(f"sqlite+aiosqlite:///{directory / 'pets.db'}")
        try:
            async with session.transaction() as connection:
                await connection.run_sync(schema.create_all)
            return await read(repository_type(session))
        finally:
            await session.disconnect()

    async def read(repository: Any) -> list[Any]:
        for number, (name, legs) in enumerate([("rex", 4), ("tweety", 2), ("nemo", 0)], 1):
            await repository.create(entity(id=number, name=name, legs=legs))
        return [
            await repository.list(sort=["id"]),
            (await repository.search(sort=["id"], page_size=2)).items,
            (await repository.keyset_page(sort=["id"], limit=2)).items,
        ]

    return asyncio.run(main())


@pytest.mark.parametrize(
    "entity",
    [Pet, KeywordPet, NicknamedPet, ModelPet],
    ids=["reordered", "keyword-only", "extra-field", "pydantic"],
)
def test_every_page_maps_rows_to_the_entity_by_column_name(
    entity: type[Any], store: str, tmp_path: Path
) -> None:
    pages = three_pages(repository_of(entity, store), entity, tmp_path)

    rex, tweety, nemo = (entity(id=1, name="rex", legs=4), entity(id=2, name="tweety", legs=2),
                         entity(id=3, name="nemo", legs=0))  # fmt: skip
    assert pages == [[rex, tweety, nemo], [rex, tweety], [rex, tweety]]
    assert all(type(pet) is entity for page in pages for pet in page)


def test_a_subclass_overriding_row_to_entity_maps_every_page_through_it(
    store: str, tmp_path: Path
) -> None:
    pages = three_pages(shouting(repository_of(Pet, store)), Pet, tmp_path)

    assert [[pet.name for pet in page] for page in pages] == [
        ["REX", "TWEETY", "NEMO"], ["REX", "TWEETY"], ["REX", "TWEETY"],
    ]  # fmt: skip
    assert all(type(pet) is LoudPet for page in pages for pet in page)

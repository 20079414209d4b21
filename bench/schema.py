"""The benchmark table, entity and repository: one of each column type a service uses."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Boolean, Column, Index, Integer, String, Table

from fastapi_building_blocks import (
    SQLAlchemyRepository,
    UTCDateTime,
    metadata,
    uuid7,
    uuid_primary_key,
    version,
)

schema = metadata()


def _item_columns() -> list[Column[Any]]:
    return [
        uuid_primary_key(),
        Column("name", String(100), nullable=False),
        Column("category", String(20), nullable=False),
        Column("score", Integer, nullable=False),
        Column("active", Boolean, nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
    ]


items = Table(
    "bench_items",
    schema,
    *_item_columns(),
    Index("ix_bench_items_category_score", "category", "score"),
)
#: The same row with optimistic locking: an update names the version it read.
versioned_items = Table("bench_versioned_items", schema, *_item_columns(), version())

COLUMNS = ("id", "name", "category", "score", "active", "created_at")
START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Item:
    name: str
    category: str
    score: int
    active: bool
    created_at: datetime
    id: uuid.UUID = field(default_factory=uuid7)


def make_item(number: int) -> Item:
    return Item(
        name=f"item-{number}",
        category=f"c{number % 20}",
        score=number % 1000,
        active=number % 3 != 0,
        created_at=START + timedelta(seconds=number),
    )


class ItemRepository(SQLAlchemyRepository[Item, uuid.UUID]):
    table = items


@dataclass
class VersionedItem(Item):
    version: int = 1


class VersionedItemRepository(SQLAlchemyRepository[VersionedItem, uuid.UUID]):
    table = versioned_items

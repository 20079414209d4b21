"""The tables and entities every contract test runs on: one of each column type the helpers use."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    Unicode,
    UnicodeText,
    text,
)

from fastapi_building_blocks import (
    InMemoryRepository,
    SQLAlchemyRepository,
    SQLAlchemySession,
    UTCDateTime,
    created_at,
    created_by,
    deleted_at,
    integer_primary_key,
    metadata,
    updated_at,
    updated_by,
    uuid7,
    uuid_primary_key,
    version,
)

schema = metadata()

things = Table(
    "things",
    schema,
    uuid_primary_key(),
    Column("name", Unicode(100), nullable=False, unique=True),
    Column("category", String(20), nullable=False),
    Column("score", Integer, nullable=False),
    Column("price", Numeric(12, 2), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("happened_at", UTCDateTime(), nullable=False),
    Column("payload", JSON, nullable=True),
    Column("note", UnicodeText, nullable=True),
    Column("rank", Integer, nullable=True),
    CheckConstraint("score >= 0", name="score_not_negative"),
)

parents = Table(
    "parents",
    schema,
    integer_primary_key(),
    Column("label", String(50), nullable=False, unique=True),
)

children = Table(
    "children",
    schema,
    integer_primary_key(),
    Column("parent_id", ForeignKey("parents.id"), nullable=False),
    Column("label", String(50), nullable=False),
)


notes = Table(
    "notes",
    schema,
    uuid_primary_key(),
    Column("title", String(100), nullable=False, unique=True),
    Column("body", Text, nullable=False),
    created_at(),
    updated_at(),
    created_by(),
    updated_by(),
    deleted_at(),
    version(),
)


folders = Table(
    "folders",
    schema,
    integer_primary_key(),
    Column("label", String(50), nullable=False),
    Column("status", String(20), nullable=False, server_default="new"),
    Column("priority", Integer, nullable=False, server_default=text("3")),
)

files = Table(
    "files",
    schema,
    integer_primary_key(),
    Column("folder_id", ForeignKey("folders.id", ondelete="CASCADE"), nullable=False),
    Column("shortcut_to", ForeignKey("folders.id", ondelete="SET NULL"), nullable=True),
    Column("label", String(50), nullable=False),
)


@dataclass
class Folder:
    """Two columns the database fills in (server_default): the in-memory twin too."""

    label: str
    status: str | None = None
    priority: int | None = None
    id: int | None = None


@dataclass
class File:
    folder_id: int
    label: str
    shortcut_to: int | None = None
    id: int | None = None


@dataclass
class Note:
    """Every managed column: the repository fills them, whatever the caller passes."""

    title: str
    body: str = ""
    id: uuid.UUID = field(default_factory=uuid7)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    created_by: str | None = None
    updated_by: str | None = None
    deleted_at: datetime | None = None
    version: int = 1


@dataclass
class Thing:
    name: str
    category: str
    score: int
    price: Decimal
    active: bool
    happened_at: datetime
    payload: dict[str, Any] | None = None
    note: str | None = None
    rank: int | None = None
    id: uuid.UUID = field(default_factory=uuid7)


class Parent(BaseModel):
    """A pydantic entity: mapping works the same as for dataclasses."""

    label: str
    id: int | None = None


def key_of(parent: Parent) -> int:
    """The key of a stored parent (None only before it is created)."""
    assert parent.id is not None
    return parent.id


@dataclass
class Child:
    """Field names differ from the columns: the repository overrides the mapping."""

    parent: int
    title: str
    id: int | None = None


class ChildMapping:
    def _row_to_entity(self, row: Any) -> Child:
        return Child(parent=row["parent_id"], title=row["label"], id=row["id"])

    def _entity_to_dict(self, entity: Child) -> dict[str, Any]:
        return {"id": entity.id, "parent_id": entity.parent, "label": entity.title}


class SQLThings(SQLAlchemyRepository[Thing, uuid.UUID]):
    table = things


class MemoryThings(InMemoryRepository[Thing, uuid.UUID]):
    table = things


class SQLParents(SQLAlchemyRepository[Parent, int]):
    table = parents


class MemoryParents(InMemoryRepository[Parent, int]):
    table = parents


class SQLChildren(ChildMapping, SQLAlchemyRepository[Child, int]):
    table = children


class MemoryChildren(ChildMapping, InMemoryRepository[Child, int]):
    table = children


class SQLNotes(SQLAlchemyRepository[Note, uuid.UUID]):
    table = notes


class MemoryNotes(InMemoryRepository[Note, uuid.UUID]):
    table = notes


class SQLFolders(SQLAlchemyRepository[Folder, int]):
    table = folders


class MemoryFolders(InMemoryRepository[Folder, int]):
    table = folders


class SQLFiles(SQLAlchemyRepository[File, int]):
    table = files


class MemoryFiles(InMemoryRepository[File, int]):
    table = files


REPOSITORIES: dict[str, tuple[type[Any], type[Any]]] = {
    "folders": (SQLFolders, MemoryFolders),
    "files": (SQLFiles, MemoryFiles),
    "things": (SQLThings, MemoryThings),
    "parents": (SQLParents, MemoryParents),
    "children": (SQLChildren, MemoryChildren),
    "notes": (SQLNotes, MemoryNotes),
}


async def create_tables(session: SQLAlchemySession) -> None:
    """The contract tables on `session`'s database, where missing."""
    async with session.transaction() as connection:
        await connection.run_sync(schema.create_all)

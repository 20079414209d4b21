"""What the outbox tests write: accounts in a source database, published as they change,
and their projection (with the handler's inbox) in a target database."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Integer, String, Table, Uuid, select, update

from fastapi_building_blocks import UnitOfWork, metadata, uuid7
from fastapi_building_blocks.outbox import Event, Message, inbox_table, outbox_table

source_schema = metadata()
accounts = Table(
    "outbox_test_accounts",
    source_schema,
    Column("id", Uuid, primary_key=True),
    Column("name", String(50), nullable=False),
    Column("version", Integer, nullable=False),
)
outbox = outbox_table(source_schema, "outbox_test_outbox")

target_schema = metadata()
projection = Table(
    "outbox_test_projection",
    target_schema,
    Column("id", Uuid, primary_key=True),
    Column("name", String(50), nullable=False),
    Column("version", Integer, nullable=False),
)
inbox = inbox_table(target_schema, "outbox_test_inbox")


async def create_account(uow: UnitOfWork, name: str) -> uuid.UUID:
    key = uuid7()
    async with uow.connection() as connection:
        await connection.execute(accounts.insert(), {"id": key, "name": name, "version": 1})
    await uow.publish(changed(key, name, 1, "account.created"), outbox=outbox)
    return key


async def rename_account(uow: UnitOfWork, key: uuid.UUID, name: str) -> int:
    async with uow.connection() as connection:
        await connection.execute(
            update(accounts).where(accounts.c.id == key)
            .values(name=name, version=accounts.c.version + 1)
        )  # fmt: skip
        version = (await connection.execute(
            select(accounts.c.version).where(accounts.c.id == key)
        )).scalar_one()  # fmt: skip
    await uow.publish(changed(key, name, version, "account.renamed"), outbox=outbox)
    return int(version)


def changed(key: uuid.UUID, name: str, version: int, kind: str) -> Event:
    return Event("account", str(key), kind, {"id": key, "name": name, "version": version})


async def project(uow: UnitOfWork, messages: Sequence[Message]) -> None:
    """The projection: each account as its latest message says. A version that does not
    grow is an error: order per aggregate is what the relay promises."""
    async with uow.connection() as connection:
        for message in messages:
            payload: dict[str, Any] = dict(message.payload)
            key = uuid.UUID(payload["id"])
            stored = (await connection.execute(
                select(projection.c.version).where(projection.c.id == key)
            )).scalar()  # fmt: skip
            if stored is None:
                await connection.execute(projection.insert(), {**payload, "id": key})
            elif payload["version"] > stored:
                await connection.execute(
                    update(projection).where(projection.c.id == key)
                    .values(name=payload["name"], version=payload["version"])
                )  # fmt: skip
            else:
                raise AssertionError(f"{key}: version {payload['version']} after {stored}")

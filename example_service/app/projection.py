"""Users projected into the analytics database, through the outbox.

Every user created, updated or deleted in the default database is published in the
same transaction (infrastructure/repositories.py); the relay hands the events to
`project_users`, which applies each once (its inbox) in the analytics database. A
projection only moves forward: an event older than what it holds changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, update

from fastapi_building_blocks import SQLAlchemySession, UnitOfWork
from fastapi_building_blocks.outbox import Message, Relay, idempotent

from .infrastructure.tables import inbox, outbox, user_projections

USER_EVENTS = ("user.created", "user.updated", "user.deleted")


async def project_users(uow: UnitOfWork, messages: Sequence[Message]) -> None:
    table = user_projections
    async with uow.connection() as connection:
        for message in messages:
            key = uuid.UUID(message.aggregate_id)
            if message.event_type == "user.deleted":
                await connection.execute(delete(table).where(table.c.id == key))
                continue
            row = _projected(message.payload)
            stored = (
                await connection.execute(select(table.c.source_version).where(table.c.id == key))
            ).scalar()
            if stored is None:
                await connection.execute(table.insert(), {"id": key, **row})
            elif row["source_version"] > stored:
                await connection.execute(update(table).where(table.c.id == key).values(**row))


def _projected(user: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "username": user["username"],
        "email": user["email"],
        "full_name": f"{user['first_name']} {user['last_name']}",
        "is_active": user["is_active"],
        "source_version": user["version"],
        "projected_at": datetime.now(UTC),
    }


def users_relay(users: SQLAlchemySession, analytics: SQLAlchemySession) -> Relay:
    """The relay from the users database's outbox to the analytics projection."""
    handler = idempotent(analytics, "user_projection", project_users, inbox=inbox)
    return Relay(users, dict.fromkeys(USER_EVENTS, handler), outbox=outbox)

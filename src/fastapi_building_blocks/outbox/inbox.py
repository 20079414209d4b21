"""The receiving side: a handler whose effect happens once per message, however often
the relay delivers it.

    async def project(uow: UnitOfWork, messages: Sequence[Message]) -> None: ...
    relay = Relay(users_db, {"user.created": idempotent(analytics_db, "project", project)})

The handler's unit of work runs on the database it writes to. Inside it, before the
effect, the messages' ids are recorded in that database's inbox (`inbox_table`); ids
already there are dropped from the batch. Recorded and applied commit together, so a
redelivery (after a relay died between the effect and marking the message delivered)
finds its id and does nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Table, select

from ..database import SQLAlchemySession
from .messages import INBOX, Message
from .relay import Handler

if TYPE_CHECKING:  # the unit of work imports this package (it publishes to the outbox)
    from ..unit_of_work import UnitOfWork

Apply = Callable[["UnitOfWork", Sequence[Message]], Awaitable[None]]


def idempotent(
    session: SQLAlchemySession, name: str, apply: Apply, *, inbox: Table = INBOX
) -> Handler:
    """A relay handler that runs `apply` on the messages `name` has not applied yet, in
    one unit of work on `session` with their inbox rows."""
    from ..unit_of_work import UnitOfWork  # see the import above

    async def handle(messages: Sequence[Message]) -> None:
        async with UnitOfWork(session) as uow:
            fresh = await first_deliveries(uow, name, messages, inbox)
            if fresh:
                await apply(uow, fresh)
            await uow.commit()

    handle.__qualname__ = f"idempotent({name})"
    return handle


async def first_deliveries(
    uow: UnitOfWork, name: str, messages: Sequence[Message], inbox: Table = INBOX
) -> list[Message]:
    """The messages `name` sees for the first time, recorded as seen in `uow`.

    Read, then insert: one relay holds a message at a time (its claim locks it), so no
    other delivery of the same message runs meanwhile; the inbox's primary key still
    refuses a duplicate, failing the unit of work rather than applying twice.
    """
    ids = [message.id for message in messages]
    seen_statement = select(inbox.c.message_id).where(
        inbox.c.handler == name, inbox.c.message_id.in_(ids)
    )
    async with uow.connection() as connection:
        seen = set((await connection.execute(seen_statement)).scalars())
        fresh = [message for message in messages if message.id not in seen]
        if fresh:
            now = datetime.now(UTC)
            rows = [{"handler": name, "message_id": m.id, "received_at": now} for m in fresh]
            await connection.execute(inbox.insert(), rows)
    return fresh

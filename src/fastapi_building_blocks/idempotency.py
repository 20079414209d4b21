"""Idempotency keys: a client's retry of a write gets the first response, not a second effect.

A client that lost its connection during a write cannot know whether it happened. With
an `Idempotency-Key` header (as payment APIs take it) it can simply retry:

1. The key is claimed in a short transaction of its own: a row "in flight" with the
   request's fingerprint. A second request with the key meanwhile is a 409
   (`IdempotencyKeyInUseError`); one with another method, path or body is a 422
   (`IdempotencyKeyReusedError`).
2. The write runs in the request's unit of work, and its response is stored in the
   key's row in that same transaction: the effect and the stored response commit
   together, or neither does.
3. A retry after that gets the stored status, body and headers, and changes nothing.

A request that fails gives its key back. One whose process died, or whose give-back
failed too, is given back after `in_flight` (its transaction died with it, so nothing
of it is stored); the client hears the request's own error either way. Keys expire
after `ttl`; `purge_expired` removes them, `purging` every few minutes in the background
(a service's lifespan). `crud_router(..., idempotency_keys=...)` applies this to POST,
PATCH and DELETE.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    delete,
    or_,
    select,
    update,
)

from .columns import UTCDateTime
from .database import DatabaseSession, SQLAlchemySession, translate_error
from .database.translate import translated_errors
from .errors import IdempotencyKeyInUseError, IdempotencyKeyReusedError, UniqueViolationError
from .unit_of_work import UnitOfWork

logger = logging.getLogger("fastapi_building_blocks.idempotency")

IN_FLIGHT = "in_flight"
DONE = "done"
MAX_KEY_LENGTH = 255


def idempotency_keys_table(schema: MetaData, name: str = "idempotency_keys") -> Table:
    """The keys and the responses they stored, in a service's schema (its migrations
    create it), in the database the writes go to."""
    return Table(
        name,
        schema,
        Column("key", String(MAX_KEY_LENGTH), nullable=False),
        Column("fingerprint", String(64), nullable=False),
        Column("state", String(10), nullable=False),
        # Which request holds it while in flight: only that one gives it back.
        Column("owner", String(32), nullable=True),
        Column("status", Integer, nullable=True),
        Column("body", JSON, nullable=True),
        Column("headers", JSON, nullable=True),
        Column("locked_at", UTCDateTime(), nullable=False),
        # Indexed: the purge finds the expired keys without reading the others.
        Column("expires_at", UTCDateTime(), nullable=False, index=True),
        PrimaryKeyConstraint("key", name=f"pk_{name}"),
    )


IDEMPOTENCY_KEYS = idempotency_keys_table(MetaData())


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What makes two requests the same request: method, path and body."""
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


@dataclass(frozen=True)
class IdempotencyKeys:
    """Where keys are kept (`table`), how long (`ttl`), and how long a request may hold
    one before a retry may take it over (`in_flight`, longer than any request runs)."""

    table: Table = IDEMPOTENCY_KEYS
    ttl: timedelta = timedelta(hours=24)
    in_flight: timedelta = timedelta(seconds=30)

    async def claim(
        self, session: SQLAlchemySession, uow: UnitOfWork, key: str, request: str, owner: str
    ) -> StoredResponse | None:
        """Take `key` for the request with fingerprint `request` (see `_claim`)."""
        with translated_errors(session.dialect, self.table):
            return await self._claim(session, uow, key, request, owner)

    async def _claim(
        self, session: SQLAlchemySession, uow: UnitOfWork, key: str, request: str, owner: str
    ) -> StoredResponse | None:
        """Take `key` for the request with fingerprint `request`, whose write will run in
        `uow`; the stored response if the key already answered it. Raises 409 while
        another request holds the key, 422 if it was used for another request.

        Where the database has one writer (SQLite), the claim is made in `uow` itself:
        a transaction of its own would wait for the lock `uow` holds. No other writer
        runs meanwhile there, so none could see the key in flight anyway.
        """
        table, now = self.table, datetime.now(UTC)
        in_uow = session.dialect.one_writer
        row = {
            "key": key, "fingerprint": request, "state": IN_FLIGHT, "owner": owner, "status": None,
            "body": None, "headers": None, "locked_at": now, "expires_at": now + self.ttl,
        }  # fmt: skip
        try:
            if in_uow:
                async with uow.savepoint(), uow.statement() as connection:
                    await connection.execute(table.insert(), row)
            else:
                async with session.statement() as connection:
                    await connection.execute(table.insert(), row)
            return None
        except Exception as error:
            if not isinstance(translate_error(error, session.dialect, table), UniqueViolationError):
                raise
        # Taken before: over, if it expired or its request died; else answer from it.
        take_over = (
            update(table)
            .where(table.c.key == key)
            .where(or_(
                table.c.expires_at < now,
                (table.c.state == IN_FLIGHT) & (table.c.locked_at < now - self.in_flight),
            ))
            .values(row)
        )  # fmt: skip
        async with uow.transaction() if in_uow else session.transaction() as connection:
            if (await connection.execute(take_over)).rowcount == 1:
                return None
            stored = (await connection.execute(select(table).where(table.c.key == key))).first()
        if stored is None:  # removed meanwhile (purged, given back): a fresh claim
            return await self._claim(session, uow, key, request, owner)
        if stored.fingerprint != request:
            raise IdempotencyKeyReusedError(
                "this Idempotency-Key was used for another request (method, path or body)"
            )
        if stored.state == IN_FLIGHT:
            raise IdempotencyKeyInUseError(
                "a request with this Idempotency-Key is still in flight: retry later"
            )
        return StoredResponse(stored.status, stored.body, dict(stored.headers or {}))

    async def store(self, uow: DatabaseSession, key: str, response: StoredResponse) -> None:
        """Record `response` as the key's answer, in the unit of work of the effect."""
        table = self.table
        statement = (
            update(table).where(table.c.key == key)
            .values(state=DONE, owner=None, status=response.status, body=response.body,
                    headers=response.headers)
        )  # fmt: skip
        with translated_errors(uow.dialect, self.table):
            async with uow.statement() as connection:
                await connection.execute(statement)

    async def release(self, session: SQLAlchemySession, key: str, owner: str) -> None:
        """Give the key back after its request failed or was cut off, wherever it was
        (claiming included): a retry runs it afresh. Only `owner`'s claim is removed.
        (With one writer the claim was in the request's unit of work, and went with it.)"""
        if session.dialect.one_writer:
            return
        table = self.table
        statement = delete(table).where(
            table.c.key == key, table.c.state == IN_FLIGHT, table.c.owner == owner
        )
        with translated_errors(session.dialect, self.table):
            async with session.statement() as connection:
                await connection.execute(statement)

    async def purge_expired(self, session: SQLAlchemySession) -> int:
        """Remove the keys past their `ttl`; how many were removed."""
        table = self.table
        statement = delete(table).where(table.c.expires_at < datetime.now(UTC))
        with translated_errors(session.dialect, self.table):
            async with session.statement() as connection:
                return int((await connection.execute(statement)).rowcount)

    @asynccontextmanager
    async def purging(
        self, session: SQLAlchemySession, every: timedelta = timedelta(minutes=5)
    ) -> AsyncIterator[None]:
        """`purge_expired` every `every` while the block runs (a service's lifespan), so
        the table holds about a `ttl` of keys instead of every key ever sent. A purge
        that fails is logged and tried again next time; every instance of a service may
        purge (the DELETE is the same from any of them)."""

        async def purge_forever() -> None:
            while True:
                await asyncio.sleep(every.total_seconds())
                try:
                    await self.purge_expired(session)
                except Exception:
                    logger.warning("purging expired idempotency keys failed", exc_info=True)

        task = asyncio.create_task(purge_forever(), name="purge idempotency keys")
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

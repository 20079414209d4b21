"""What the outbox holds: events as a service publishes them, messages as handlers get them,
and the two tables (the sender's outbox, the receiver's inbox).

The outbox row is written in the same transaction as the change it describes
(`UnitOfWork.publish`), so the two are committed together or not at all. The inbox row
is written in the same transaction as a handler's effect, so a message delivered twice
has its effect once.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    DDL,
    JSON,
    Column,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    Uuid,
    event,
)

from ..columns import UTCDateTime, uuid7

#: The PostgreSQL channel the outbox's trigger notifies on every insert: relays LISTEN.
NOTIFY_CHANNEL = "fbb_outbox"


class State(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


@dataclass(frozen=True)
class Event:
    """Something that happened to one aggregate, to be carried to other databases."""

    aggregate_type: str
    aggregate_id: str
    event_type: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    id: uuid.UUID = field(default_factory=uuid7)


@dataclass(frozen=True)
class Message:
    """An event as the relay delivers it: at least once, in order per aggregate."""

    id: uuid.UUID
    aggregate_type: str
    aggregate_id: str
    event_type: str
    payload: Mapping[str, Any]
    created_at: datetime
    attempts: int
    traceparent: str | None = None


def outbox_table(schema: MetaData, name: str = "outbox") -> Table:
    """The outbox, in a service's schema (its migrations create it).

    Keys are uuid7s: time-ordered, and the order in which a process published its
    events, which is the order the relay keeps per aggregate. On PostgreSQL a trigger
    notifies relays of new rows (`NOTIFY_CHANNEL`); `create_all` makes it, and a
    migration calls `outbox_notify_ddl()`.
    """
    table = Table(
        name,
        schema,
        Column("id", Uuid, nullable=False),
        Column("aggregate_type", String(100), nullable=False),
        Column("aggregate_id", String(100), nullable=False),
        Column("event_type", String(100), nullable=False),
        Column("payload", JSON, nullable=False),
        Column("traceparent", String(55), nullable=True),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("available_at", UTCDateTime(), nullable=False),
        Column("state", String(10), nullable=False),
        Column("last_error", Text, nullable=True),
        Column("delivered_at", UTCDateTime(), nullable=True),
        PrimaryKeyConstraint("id", name=f"pk_{name}"),
    )
    # What the relay asks: the next pending rows in key order (so a claim reads only the
    # pending rows, not every delivered row kept for the retention period before them),
    # and the earlier pending ones of an aggregate.
    Index(f"ix_{name}_state_id", table.c.state, table.c.id)
    Index(f"ix_{name}_aggregate", table.c.aggregate_type, table.c.aggregate_id, table.c.state)
    create, drop = outbox_notify_ddl(name)
    for statement in create:
        event.listen(table, "after_create", DDL(statement).execute_if(dialect="postgresql"))  # type: ignore[no-untyped-call]
    for statement in drop:
        event.listen(table, "before_drop", DDL(statement).execute_if(dialect="postgresql"))  # type: ignore[no-untyped-call]
    return table


def inbox_table(schema: MetaData, name: str = "inbox") -> Table:
    """The receiver's record of the messages each handler has applied (its migrations
    create it, in the database the handler writes to)."""
    return Table(
        name,
        schema,
        Column("handler", String(100), nullable=False),
        Column("message_id", Uuid, nullable=False),
        Column("received_at", UTCDateTime(), nullable=False),
        PrimaryKeyConstraint("handler", "message_id", name=f"pk_{name}"),
    )


def outbox_notify_ddl(name: str = "outbox") -> tuple[list[str], list[str]]:
    """PostgreSQL: the trigger that notifies relays when rows are added, and its removal.

    A statement-level trigger: one notification per INSERT, sent at commit (PostgreSQL
    folds a transaction's identical notifications into one), with no round trip added
    to the publishing transaction.
    """
    function = f"{name}_notify"
    create = [
        f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN PERFORM pg_notify('{NOTIFY_CHANNEL}', ''); RETURN NULL; END $$",
        f"CREATE TRIGGER {function} AFTER INSERT ON {name} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
    ]
    drop = [f"DROP TRIGGER IF EXISTS {function} ON {name}", f"DROP FUNCTION IF EXISTS {function}()"]
    return create, drop


#: The package's own copy of the default tables' shape: `publish` and the relay build
#: their statements on it, so a service needs no more than the tables in its schema.
_PACKAGE_SCHEMA = MetaData()
OUTBOX = outbox_table(_PACKAGE_SCHEMA)
INBOX = inbox_table(_PACKAGE_SCHEMA)

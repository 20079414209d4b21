"""Changes that reach other databases exactly once in effect.

A service publishes events in the unit of work of the change they describe
(`uow.publish(Event(...))`); a `Relay` delivers them to handlers at least once, in order
per aggregate; a handler built on `Inbox` applies each message once, recording its id
in the same transaction as its effect.
"""

from .inbox import first_deliveries, idempotent
from .messages import (
    INBOX,
    NOTIFY_CHANNEL,
    OUTBOX,
    Event,
    Message,
    State,
    inbox_table,
    outbox_notify_ddl,
    outbox_table,
)
from .relay import Backlog, DeadMessage, Handler, Relay

__all__ = [
    "INBOX",
    "NOTIFY_CHANNEL",
    "OUTBOX",
    "Backlog",
    "DeadMessage",
    "Event",
    "Handler",
    "Message",
    "Relay",
    "State",
    "first_deliveries",
    "idempotent",
    "inbox_table",
    "outbox_notify_ddl",
    "outbox_table",
]

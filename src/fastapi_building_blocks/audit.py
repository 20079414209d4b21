"""Who is acting: the value `created_by` / `updated_by` columns receive.

Set it once per request (a middleware or dependency); it follows the task, so concurrent
requests never see each other's actor.

    with acting_as("alice"):
        await users.update(user)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

current_actor: ContextVar[str | None] = ContextVar("current_actor", default=None)


@contextmanager
def acting_as(actor: str | None) -> Iterator[None]:
    token = current_actor.set(actor)
    try:
        yield
    finally:
        current_actor.reset(token)

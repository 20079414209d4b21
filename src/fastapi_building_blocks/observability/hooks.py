"""Hooks around every repository and unit-of-work operation.

A hook is a callable taking the `Operation` and returning a context manager that wraps
it; the body may set `observation.rows`. Errors propagate through the context manager,
so a hook sees them as it would see any exception.

    @contextmanager
    def audit(operation: Operation) -> Iterator[Observation]:
        observation = Observation()
        yield observation
        log.info("%s %s: %s rows", operation.name, operation.table, observation.rows)

    add_hook(audit)

A hook never breaks what it observes: one that raises is logged and skipped. A hook with
an `active` attribute that is false is not called at all (the OpenTelemetry hook, until an
SDK is configured): with no active hook an operation pays for nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

logger = logging.getLogger("fastapi_building_blocks.observability")


@dataclass(frozen=True, slots=True)
class Operation:
    """One repository or unit-of-work call, named per the database semantic conventions."""

    name: str  # db.operation.name: "get", "create", "commit", ...
    table: str | None  # db.collection.name
    system: str  # db.system.name: "postgresql", "mariadb", "sqlite", ...
    namespace: str | None  # db.namespace: the database name
    pool: str | None = None  # db.client.connection.pool.name: the URL, password masked


@dataclass(slots=True)
class Observation:
    """What the operation reports back to its hooks while it runs."""

    rows: int | None = None


Hook = Callable[[Operation], AbstractContextManager[Observation]]

_hooks: list[Hook] = []
_inside: ContextVar[bool] = ContextVar("fastapi_building_blocks_observing", default=False)


def add_hook(hook: Hook) -> None:
    if hook not in _hooks:
        _hooks.append(hook)


def remove_hook(hook: Hook) -> None:
    if hook in _hooks:
        _hooks.remove(hook)


def hooks() -> tuple[Hook, ...]:
    return tuple(_hooks)


def any_active() -> bool:
    """Whether some hook wants to observe now (a hook may say it does not: `active`)."""
    return any(getattr(hook, "active", True) for hook in _hooks)


class _Guarded:
    """One hook's context manager whose own failures are logged, never raised."""

    def __init__(self, hook: Hook, operation: Operation, shared: Observation) -> None:
        self.hook, self.operation, self.shared = hook, operation, shared
        self.context: AbstractContextManager[Observation] | None = None
        self.observation: Observation | None = None

    def __enter__(self) -> None:
        try:
            self.context = self.hook(self.operation)
            self.observation = self.context.__enter__()
        except Exception:
            logger.exception("observability hook %r failed on enter; skipped", self.hook)
            self.context = None

    def __exit__(self, *exc_info: object) -> None:
        if self.context is None:
            return
        if self.observation is not None:
            self.observation.rows = self.shared.rows
        try:
            self.context.__exit__(*exc_info)  # type: ignore[arg-type]
        except Exception as error:
            if error is not exc_info[1]:  # the operation's own error goes on regardless
                logger.exception("observability hook %r failed on exit; ignored", self.hook)


@contextmanager
def observing(operation: Operation, *, encloses_operations: bool = False) -> Iterator[Observation]:
    """Run every registered hook around one operation.

    A repository operation called from inside another (`get_by_id` calls `get`) is
    observed once, as the outer one. A unit of work `encloses_operations`: those inside
    it are observed as its children.
    """
    observation = Observation()
    active = [hook for hook in _hooks if getattr(hook, "active", True)]
    if not active or _inside.get():
        yield observation
        return
    token = None if encloses_operations else _inside.set(True)
    try:
        with ExitStack() as stack:
            for hook in active:
                stack.enter_context(_Guarded(hook, operation, observation))
            yield observation
    finally:
        if token is not None:
            _inside.reset(token)

"""Hooks around every repository and unit-of-work operation: the registry and the protocol.

A leaf module: repositories and units of work import it, and it imports nothing of the
package. Nothing is registered until a service says so (`add_hook`); the OpenTelemetry
hook is `observability.OpenTelemetryHook`.

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

import functools
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

logger = logging.getLogger("fastapi_building_blocks.observability")


@dataclass(frozen=True, slots=True)
class Operation:
    """One repository or unit-of-work call, named per the database semantic conventions.

    Repositories reuse one per operation and table (`shared_operation`), so what is
    derived from it (`attributes`, `span_name`) is computed once, not on every call.
    """

    name: str  # db.operation.name: "get", "create", "commit", ...
    table: str | None  # db.collection.name
    system: str  # db.system.name: "postgresql", "mariadb", "sqlite", ...
    namespace: str | None  # db.namespace: the database name
    pool: str | None = None  # db.client.connection.pool.name: the URL, password masked
    #: server.address / server.port: the primary; a read a replica served says so on its
    #: span (database/replicas.py), which is why they are span attributes only.
    server: tuple[str | None, int | None] = (None, None)
    attributes: dict[str, Any] = field(init=False, repr=False, compare=False)
    span_attributes: dict[str, Any] = field(init=False, repr=False, compare=False)
    span_name: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        attributes: dict[str, Any] = {"db.system.name": self.system, "db.operation.name": self.name}
        if self.table:
            attributes["db.collection.name"] = self.table
        if self.namespace:
            attributes["db.namespace"] = self.namespace
        object.__setattr__(self, "attributes", attributes)
        address, port = self.server
        span_attributes = dict(attributes)
        if address is not None:
            span_attributes["server.address"] = address
            if port is not None:
                span_attributes["server.port"] = port
        object.__setattr__(self, "span_attributes", span_attributes)
        span_name = f"{self.name} {self.table}" if self.table else self.name
        object.__setattr__(self, "span_name", span_name)


@functools.lru_cache(maxsize=1024)
def shared_operation(
    name: str,
    table: str | None,
    system: str,
    namespace: str | None,
    pool: str | None,
    server: tuple[str | None, int | None] = (None, None),
) -> Operation:
    """The one `Operation` for these values: repositories ask for it on every call."""
    return Operation(name, table, system, namespace, pool, server)


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


def registered_hooks() -> tuple[Hook, ...]:
    return tuple(_hooks)


def any_active() -> bool:
    """Whether some hook wants to observe now (a hook may say it does not: `active`)."""
    if not _hooks:  # no telemetry set up: every operation asks, so answer at once
        return False
    return any(getattr(hook, "active", True) for hook in _hooks)


class observing:  # noqa: N801 - used like the function it replaced: `with observing(op):`
    """Run every registered hook around one operation.

    A repository operation called from inside another (`get_by_id` calls `get`) is
    observed once, as the outer one. A unit of work `encloses_operations`: those inside
    it are observed as its children. A hook that raises is logged and skipped; the
    operation goes on. A class, not a generator: this runs on every operation.
    """

    __slots__ = ("_encloses", "_entered", "_operation", "_token", "observation")

    def __init__(self, operation: Operation, *, encloses_operations: bool = False) -> None:
        self._operation = operation
        self._encloses = encloses_operations
        self._entered: list[tuple[Hook, AbstractContextManager[Observation], Observation]] = []
        self._token: Token[bool] | None = None
        self.observation = Observation()

    def __enter__(self) -> Observation:
        if _inside.get():
            return self.observation
        for hook in _hooks:
            if not getattr(hook, "active", True):
                continue
            try:
                context = hook(self._operation)
                self._entered.append((hook, context, context.__enter__()))
            except Exception:
                logger.exception("observability hook %r failed on enter; skipped", hook)
        if self._entered and not self._encloses:
            self._token = _inside.set(True)
        return self.observation

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _inside.reset(self._token)
        rows = self.observation.rows
        for hook, context, observation in reversed(self._entered):
            observation.rows = rows
            try:
                context.__exit__(exc_type, error, traceback)
            except Exception as failure:
                if failure is not error:  # the operation's own error goes on regardless
                    logger.exception("observability hook %r failed on exit; ignored", hook)

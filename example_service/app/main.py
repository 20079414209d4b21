"""The example service: `uvicorn --factory example_service.app.main:create_app`.

A factory, not a module-level app: importing this module changes nothing global (no
telemetry providers, no logging setup), so tests build as many apps as they like.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from fastapi_building_blocks.fastapi import (
    ReadYourWritesMiddleware,
    health_router,
    install_offline_docs,
    install_problem_handlers,
    open_databases,
)
from fastapi_building_blocks.migrations import head_revisions
from fastapi_building_blocks.observability import (
    SlowOperationHook,
    add_hook,
    configure_json_logging,
    remove_hook,
)

from .api import analytics, page_views, posts, users
from .api.users import IDEMPOTENCY_KEYS
from .projection import users_relay
from .settings import Settings

#: The service's migrations, whose last revision the database must be at to be ready.
ALEMBIC_INI = Path(__file__).parents[1] / "alembic.ini"


DESCRIPTION = """\
Users and their posts, stored in whichever database `DATABASE_URL` names (SQLite,
PostgreSQL, MariaDB/MySQL, SQL Server).

Every error is an `application/problem+json` document with the status it is declared
with below: 400 for a bad filter, sort or cursor, 404 for a missing row, 409 for a
duplicate or a stale `version`, 422 for a body or a value that does not fit, 503 when the
database cannot be reached (with `Retry-After`), 504 when a statement ran too long.
The list routes describe the query language.
"""
TAGS = [
    {
        "name": "users",
        "description": "People who write posts; emails are unique, compared without case.",
    },
    {"name": "posts", "description": "What users write; deleting a user with posts is a 409."},
    {"name": "page views", "description": "Pages seen, kept in the analytics database."},
    {
        "name": "analytics",
        "description": "Users as the analytics database holds them: projected from the "
        "users database's outbox by the relay, a moment after each change.",
    },
    {"name": "health", "description": "Liveness, and readiness of every database."},
]


def _nothing() -> None:
    """Shutdown's undo when there is nothing to undo."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    if settings.json_logs:
        configure_json_logging()

    @asynccontextmanager
    async def relaying(app: FastAPI) -> AsyncIterator[None]:
        """The outbox's relay, in the lifespan unless it runs as a process of its own
        (`python -m example_service.relay`); /health/ready reports its backlog."""
        if not settings.run_relay:
            yield
            return
        databases = app.state.databases
        relay = users_relay(databases["default"], databases["analytics"])
        if settings.telemetry:
            from .telemetry import instrument_relay

            instrument_relay(relay)
        async with relay.running():
            app.state.relays = [relay]
            yield

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        databases = settings.sessions()
        uninstrument: Callable[[], None] = _nothing
        if settings.telemetry:
            from .telemetry import instrument_databases

            uninstrument = instrument_databases(databases.values(), settings.statement_spans)
        slow = SlowOperationHook(settings.slow_operation_seconds)
        add_hook(slow)
        try:
            # The schema comes from migrations (`make run` applies them), not from here;
            # readiness fails while the database is behind them.
            revisions = head_revisions(ALEMBIC_INI)
            async with (
                open_databases(app, databases, revisions=revisions),
                relaying(app),
                IDEMPOTENCY_KEYS.purging(databases["default"]),
            ):
                yield
        finally:
            remove_hook(slow)
            uninstrument()

    app = FastAPI(
        title="Example users service",
        version="1.0.0",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        docs_url=None,  # served by install_offline_docs: no CDN needed
        redoc_url=None,
    )
    install_offline_docs(app)
    install_problem_handlers(app, max_body_bytes=settings.max_body_bytes)
    # With replicas (DATABASES__default__REPLICA_URLS), a client that sends back the
    # Read-Your-Writes header it got reads its own writes on its next request too.
    app.add_middleware(ReadYourWritesMiddleware)
    app.include_router(health_router)
    app.include_router(users.extra)
    app.include_router(users.router)
    app.include_router(posts.extra)
    app.include_router(posts.router)
    app.include_router(page_views.router)
    app.include_router(analytics.router)
    if settings.telemetry:
        from .telemetry import instrument

        instrument(app)
    return app

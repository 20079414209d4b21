"""The example service: `uvicorn example_service.app.main:app` (see the Makefile's `run`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from fastapi_building_blocks.fastapi import health_router, install_problem_handlers, open_databases

from .api import posts, users
from .settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The schema comes from migrations (`make run` applies them), not from here.
        async with open_databases(app, {"default": settings.database().session()}):
            yield

    app = FastAPI(title="Example users service", version="1.0.0", lifespan=lifespan)
    install_problem_handlers(app)
    app.include_router(health_router)
    app.include_router(users.extra)
    app.include_router(users.router)
    app.include_router(posts.router)
    return app


app = create_app()

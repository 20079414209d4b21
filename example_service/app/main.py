"""The example service: `uvicorn example_service.app.main:app`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from fastapi_building_blocks import SQLAlchemySession
from fastapi_building_blocks.fastapi import install_problem_handlers

from .api import users
from .infrastructure.tables import schema
from .settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = SQLAlchemySession(settings.database_url)
        async with database:
            # Until migrations land, the tables are created on start-up.
            async with database.transaction() as connection:
                await connection.run_sync(schema.create_all)
            app.state.database = database
            yield

    app = FastAPI(title="Example users service", lifespan=lifespan)
    install_problem_handlers(app)
    app.include_router(users.router)

    @app.get("/health", tags=["health"])
    async def health() -> dict[str, str]:
        await app.state.database.ping()
        return {"status": "ok"}

    return app


app = create_app()

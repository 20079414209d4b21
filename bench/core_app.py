"""The HTTP reference: the same two endpoints as the example service, on plain Core.

Same table (the example's migrations create it), same database URL, no layer:
`uvicorn --factory bench.core_app:create_app`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import create_async_engine

from example_service.app.infrastructure.tables import users
from fastapi_building_blocks import uuid7

GET = select(users).where(users.c.id == bindparam("key"))
INSERT = users.insert()


class UserIn(BaseModel):
    first_name: str
    last_name: str
    email: str
    username: str


def create_app() -> FastAPI:
    # The same variable sizes the example service's pool: the bench gives both the same.
    pool_size = int(os.environ.get("DATABASES__DEFAULT__POOL_SIZE", "10"))
    engine = create_async_engine(
        os.environ["DATABASE_URL"], pool_size=pool_size, max_overflow=0, pool_pre_ping=True
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.get("/core/users/{key}")
    async def get_user(key: uuid.UUID) -> dict[str, Any]:
        async with engine.connect() as connection:
            row = (await connection.execute(GET, {"key": key})).first()
        if row is None:
            raise HTTPException(404)
        return dict(row._mapping)

    @app.post("/core/users", status_code=201)
    async def create_user(body: UserIn) -> dict[str, Any]:
        now = datetime.now(UTC)
        values = {**body.model_dump(), "id": uuid7(), "is_active": True,
                  "created_at": now, "updated_at": now, "version": 1}  # fmt: skip
        async with engine.begin() as connection:
            await connection.execute(INSERT, values)
        return values

    return app

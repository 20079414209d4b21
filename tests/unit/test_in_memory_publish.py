"""The in-memory unit of work publishes as the SQL one does: with the commit, or not."""

from __future__ import annotations

import asyncio

from fastapi_building_blocks import InMemoryDatabase, InMemoryUnitOfWork
from fastapi_building_blocks.outbox import Event


def test_published_events_are_kept_on_commit_and_dropped_on_rollback() -> None:
    database = InMemoryDatabase()

    async def work() -> None:
        async with InMemoryUnitOfWork(database) as uow:
            await uow.publish(Event("user", "1", "user.created", {"id": 1}))
            await uow.rollback()
            await uow.publish(Event("user", "2", "user.created", {"id": 2}))
            await uow.commit()
            await uow.publish(Event("user", "3", "user.created", {"id": 3}))  # never committed

    asyncio.run(work())

    assert [event.aggregate_id for event in database.published] == ["2"]

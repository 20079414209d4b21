"""A saga across two databases, built from outboxes and idempotent handlers.

Placing an order (orders database) reserves stock (stock database), and the order is
confirmed once the stock is reserved:

    orders: order.placed ──relay──▶ stock: reserve, publish stock.reserved
    stock:  stock.reserved ──relay──▶ orders: confirm the order

When the reservation fails for good (no such stock: retried, then dead), the dead
letter `order.placed.dead` is the compensation's trigger: the order is cancelled. Each
database has its own outbox and relay; no step is ever applied twice (inboxes).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, String, Table, Uuid, select, update

from fastapi_building_blocks import SQLAlchemySession, UnitOfWork, metadata, uuid7
from fastapi_building_blocks.outbox import (
    Event,
    Message,
    Relay,
    idempotent,
    inbox_table,
    outbox_table,
)
from tests.outbox.conftest import urls_for

orders_schema = metadata()
orders = Table(
    "saga_orders", orders_schema,
    Column("id", Uuid, primary_key=True), Column("item", String(50), nullable=False),
    Column("quantity", Integer, nullable=False), Column("state", String(20), nullable=False),
)  # fmt: skip
orders_outbox = outbox_table(orders_schema, "saga_orders_outbox")
orders_inbox = inbox_table(orders_schema, "saga_orders_inbox")

stock_schema = metadata()
stock = Table(
    "saga_stock", stock_schema,
    Column("item", String(50), primary_key=True), Column("available", Integer, nullable=False),
)  # fmt: skip
stock_outbox = outbox_table(stock_schema, "saga_stock_outbox")
stock_inbox = inbox_table(stock_schema, "saga_stock_inbox")


class OutOfStockError(Exception):
    """Permanent: retrying cannot make stock appear."""


@dataclass
class Shop:
    orders_db: SQLAlchemySession
    stock_db: SQLAlchemySession

    async def place(self, item: str, quantity: int) -> uuid.UUID:
        key = uuid7()
        async with UnitOfWork(self.orders_db) as uow:
            async with uow.connection() as connection:
                await connection.execute(
                    orders.insert(),
                    {"id": key, "item": item, "quantity": quantity, "state": "placed"},
                )
            placed = Event("order", str(key), "order.placed", {"item": item, "quantity": quantity})
            await uow.publish(placed, outbox=orders_outbox)
            await uow.commit()
        return key

    async def reserve(self, uow: UnitOfWork, messages: Sequence[Message]) -> None:
        """Step 1, in the stock database: take the stock, and say so in its outbox."""
        async with uow.connection() as connection:
            for message in messages:
                wanted = message.payload["quantity"]
                taken = await connection.execute(
                    update(stock)
                    .where(stock.c.item == message.payload["item"], stock.c.available >= wanted)
                    .values(available=stock.c.available - wanted)
                )
                if taken.rowcount != 1:
                    raise OutOfStockError(message.payload["item"])
        for message in messages:
            await uow.publish(Event("order", message.aggregate_id, "stock.reserved", {}),
                              outbox=stock_outbox)  # fmt: skip

    async def set_state(self, uow: UnitOfWork, messages: Sequence[Message], state: str) -> None:
        async with uow.connection() as connection:
            for message in messages:
                key = uuid.UUID(message.aggregate_id)
                await connection.execute(
                    update(orders).where(orders.c.id == key).values(state=state)
                )

    async def confirm(self, uow: UnitOfWork, messages: Sequence[Message]) -> None:
        """Step 2, back in the orders database."""
        await self.set_state(uow, messages, "confirmed")

    async def cancel(self, uow: UnitOfWork, messages: Sequence[Message]) -> None:
        """The compensation: the reservation failed for good, so the order is off."""
        await self.set_state(uow, messages, "cancelled")

    def relays(self) -> list[Relay]:
        fast = {"max_attempts": 3, "first_retry_seconds": 0.01, "max_retry_seconds": 0.02}
        reserve = idempotent(self.stock_db, "reserve", self.reserve, inbox=stock_inbox)
        cancel = idempotent(self.orders_db, "cancel", self.cancel, inbox=orders_inbox)
        confirm = idempotent(self.orders_db, "confirm", self.confirm, inbox=orders_inbox)
        to_stock = Relay(self.orders_db, {"order.placed": reserve, "order.placed.dead": cancel},
                         outbox=orders_outbox, **fast)  # type: ignore[arg-type]  # fmt: skip
        to_orders = Relay(self.stock_db, {"stock.reserved": confirm},
                          outbox=stock_outbox, **fast)  # type: ignore[arg-type]  # fmt: skip
        return [to_stock, to_orders]

    async def state_of(self, key: uuid.UUID) -> str:
        async with self.orders_db.connection() as connection:
            return str(
                (
                    await connection.execute(select(orders.c.state).where(orders.c.id == key))
                ).scalar_one()
            )

    async def available(self, item: str) -> int:
        async with self.stock_db.connection() as connection:
            return int(
                (
                    await connection.execute(select(stock.c.available).where(stock.c.item == item))
                ).scalar_one()
            )


@pytest.fixture(params=["postgresql", "mariadb", "sqlite"])
async def shop(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Shop]:
    orders_url, stock_url = urls_for(request.param, tmp_path)
    databases = (SQLAlchemySession(orders_url), SQLAlchemySession(stock_url))
    for session, schema in zip(databases, (orders_schema, stock_schema), strict=True):
        async with session.transaction() as connection:
            await connection.run_sync(schema.drop_all)
            await connection.run_sync(schema.create_all)
    async with databases[1].transaction() as connection:
        await connection.execute(stock.insert(), {"item": "lamp", "available": 5})
    shop = Shop(*databases)
    relays = shop.relays()
    async with relays[0].running(), relays[1].running():
        yield shop
    for session in databases:
        await session.disconnect()


async def settled(shop: Shop, key: uuid.UUID, state: str) -> bool:
    for _ in range(200):
        if await shop.state_of(key) == state:
            return True
        await asyncio.sleep(0.025)
    return False


async def test_an_order_with_stock_reserves_it_and_is_confirmed(shop: Shop) -> None:
    order = await shop.place("lamp", 2)

    assert await settled(shop, order, "confirmed")
    assert await shop.available("lamp") == 3


async def test_an_order_whose_reservation_fails_for_good_is_cancelled(shop: Shop) -> None:
    order = await shop.place("lamp", 50)  # more than there is: the step goes dead

    assert await settled(shop, order, "cancelled")
    assert await shop.available("lamp") == 5  # nothing was taken

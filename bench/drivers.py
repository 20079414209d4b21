"""The raw-driver reference: the same statements sent straight through each driver, on a
connection taken from the same kind of pool, with the values in each backend's own format."""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from .schema import COLUMNS, Item

_INSERT_COLUMNS = ", ".join(COLUMNS)
_SET = ", ".join(f"{name} = {{}}" for name in COLUMNS[1:])
#: The page workloads' filter and order (bench/workloads.py), in each driver's own marks.
_PAGE_WHERE = "category = {} AND active = {}"
_PAGE_ORDER = "ORDER BY score DESC, id DESC"


class RawDriver:
    """Statements in the driver's parameter style; subclasses say how values are stored.

    A driver commits each write, as autocommit would; `in_transaction()` gives one that
    leaves that to the `transaction` around it.
    """

    placeholder = "?"
    commits = True

    def in_transaction(self) -> RawDriver:
        inside = copy.copy(self)
        inside.commits = False
        return inside

    @asynccontextmanager
    async def transaction(self, connection: Any) -> AsyncIterator[None]:
        """One transaction around the block, begun implicitly by its first statement (the
        DB-API drivers' way)."""
        yield
        await connection.commit()

    def marks(self, count: int) -> list[str]:
        return [self.placeholder] * count

    def key(self, value: uuid.UUID) -> Any:
        return value

    def time(self, value: datetime) -> Any:
        return value

    def row(self, item: Item) -> tuple[Any, ...]:
        return (
            self.key(item.id), item.name, item.category, item.score, item.active,
            self.time(item.created_at),
        )  # fmt: skip

    @property
    def select_sql(self) -> str:
        return f"SELECT {_INSERT_COLUMNS} FROM bench_items WHERE id = {self.marks(1)[0]}"

    @property
    def insert_sql(self) -> str:
        return f"INSERT INTO bench_items ({_INSERT_COLUMNS}) VALUES ({', '.join(self.marks(6))})"

    @property
    def update_sql(self) -> str:
        marks = self.marks(6)
        return f"UPDATE bench_items SET {_SET.format(*marks[:5])} WHERE id = {marks[5]}"

    @property
    def versioned_update_sql(self) -> str:
        marks = self.marks(8)
        return (
            f"UPDATE bench_versioned_items SET {_SET.format(*marks[:5])}, version = {marks[5]}"
            f" WHERE id = {marks[6]} AND version = {marks[7]}"
        )

    @property
    def delete_sql(self) -> str:
        return f"DELETE FROM bench_items WHERE id = {self.marks(1)[0]}"

    @property
    def count_sql(self) -> str:
        return f"SELECT count(*) FROM bench_items WHERE {_PAGE_WHERE.format(*self.marks(2))}"

    @property
    def offset_page_sql(self) -> str:
        marks = self.marks(4)
        where = _PAGE_WHERE.format(*marks[:2])
        return (
            f"SELECT {_INSERT_COLUMNS} FROM bench_items WHERE {where} {_PAGE_ORDER}"
            f" LIMIT {marks[2]} OFFSET {marks[3]}"
        )

    @property
    def keyset_page_sql(self) -> str:
        """The repository's keyset shape: a bound on the sort column, then the tie-break."""
        marks = self.marks(7)
        where = _PAGE_WHERE.format(*marks[:2])
        return (
            f"SELECT {_INSERT_COLUMNS} FROM bench_items WHERE {where} AND score <= {marks[2]}"
            f" AND (score < {marks[3]} OR (score = {marks[4]} AND id < {marks[5]}))"
            f" {_PAGE_ORDER} LIMIT {marks[6]}"
        )

    async def offset_page(self, connection: Any, size: int, offset: int) -> Any:
        """The total and the page, as a list endpoint reads them."""
        total = (await self.fetch(connection, self.count_sql, ("c7", True)))[0][0]
        return total, await self.fetch(connection, self.offset_page_sql, ("c7", True, size, offset))

    async def keyset_page(self, connection: Any, score: int, key: uuid.UUID, size: int) -> Any:
        values = ("c7", True, score, score, score, self.key(key), size + 1)
        return await self.fetch(connection, self.keyset_page_sql, values)

    async def get(self, connection: Any, key: uuid.UUID) -> Any:
        raise NotImplementedError

    async def fetch(self, connection: Any, sql: str, values: Sequence[Any]) -> list[Any]:
        raise NotImplementedError

    async def write(self, connection: Any, sql: str, values: Sequence[Any]) -> int:
        """Run one statement (committing it if `commits`); the number of rows it matched."""
        raise NotImplementedError

    async def write_many(self, connection: Any, rows: list[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    async def insert(self, connection: Any, item: Item) -> None:
        await self.write(connection, self.insert_sql, self.row(item))

    async def update(self, connection: Any, item: Item) -> None:
        values = self.row(item)
        await self.write(connection, self.update_sql, (*values[1:], values[0]))

    async def update_versioned(self, connection: Any, item: Item, expected: int) -> int:
        values = self.row(item)
        arguments = (*values[1:], expected + 1, values[0], expected)
        return await self.write(connection, self.versioned_update_sql, arguments)

    async def delete(self, connection: Any, key: uuid.UUID) -> None:
        await self.write(connection, self.delete_sql, (self.key(key),))


class AsyncpgDriver(RawDriver):
    """asyncpg prepares and caches each statement itself; no transaction = autocommit."""

    def marks(self, count: int) -> list[str]:
        return [f"${n}" for n in range(1, count + 1)]

    @asynccontextmanager
    async def transaction(self, connection: Any) -> AsyncIterator[None]:
        async with connection.transaction():
            yield

    async def get(self, connection: Any, key: uuid.UUID) -> Any:
        return await connection.fetchrow(self.select_sql, key)

    async def fetch(self, connection: Any, sql: str, values: Sequence[Any]) -> list[Any]:
        records: list[Any] = await connection.fetch(sql, *values)
        return records

    async def write(self, connection: Any, sql: str, values: Sequence[Any]) -> int:
        status: str = await connection.execute(sql, *values)  # e.g. "UPDATE 1"
        return int(status.rsplit(" ", 1)[-1])

    async def write_many(self, connection: Any, rows: list[tuple[Any, ...]]) -> None:
        async with connection.transaction():
            await connection.executemany(self.insert_sql, rows)

    async def copy(self, connection: Any, rows: list[tuple[Any, ...]]) -> None:
        await connection.copy_records_to_table("bench_items", records=rows, columns=COLUMNS)


class AiomysqlDriver(RawDriver):
    placeholder = "%s"

    def key(self, value: uuid.UUID) -> Any:
        return str(value)  # MariaDB's native UUID type takes the text form

    def time(self, value: datetime) -> Any:
        return value.replace(tzinfo=None)  # stored as UTC wall time

    async def get(self, connection: Any, key: uuid.UUID) -> Any:
        async with connection.cursor() as cursor:
            await cursor.execute(self.select_sql, (self.key(key),))
            return await cursor.fetchone()

    async def fetch(self, connection: Any, sql: str, values: Sequence[Any]) -> list[Any]:
        async with connection.cursor() as cursor:
            await cursor.execute(sql, values)
            return list(await cursor.fetchall())

    async def write(self, connection: Any, sql: str, values: Sequence[Any]) -> int:
        async with connection.cursor() as cursor:
            matched = int(await cursor.execute(sql, values))
        if self.commits:
            await connection.commit()
        return matched

    async def write_many(self, connection: Any, rows: list[tuple[Any, ...]]) -> None:
        async with connection.cursor() as cursor:
            await cursor.executemany(self.insert_sql, rows)
        await connection.commit()


class AiosqliteDriver(RawDriver):
    def key(self, value: uuid.UUID) -> Any:
        return value.hex  # SQLAlchemy's Uuid stores 32 hex digits on SQLite

    def time(self, value: datetime) -> Any:
        return value.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")

    async def get(self, connection: Any, key: uuid.UUID) -> Any:
        async with connection.execute(self.select_sql, (self.key(key),)) as cursor:
            return await cursor.fetchone()

    async def fetch(self, connection: Any, sql: str, values: Sequence[Any]) -> list[Any]:
        async with connection.execute(sql, values) as cursor:
            return list(await cursor.fetchall())

    async def write(self, connection: Any, sql: str, values: Sequence[Any]) -> int:
        cursor = await connection.execute(sql, values)  # as before: no close, no extra hop
        matched = int(cursor.rowcount)
        if self.commits:
            await connection.commit()
        return matched

    async def write_many(self, connection: Any, rows: list[tuple[Any, ...]]) -> None:
        await connection.executemany(self.insert_sql, rows)  # one implicit transaction
        await connection.commit()


DRIVERS: dict[str, type[RawDriver]] = {
    "postgresql": AsyncpgDriver,
    "mariadb": AiomysqlDriver,
    "sqlite": AiosqliteDriver,
}

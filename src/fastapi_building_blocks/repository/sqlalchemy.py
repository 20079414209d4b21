"""The repository contract on SQLAlchemy Core: one `Table`, statements built once per class."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, ClassVar

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Delete, Insert, Select, Update

from ..database import DatabaseSession, translate_error
from ..errors import NotFoundError
from . import sql_conditions
from .contract import E, K, Repository
from .policy import CheckedFilter, is_integer_column
from .query import Sort


class SQLAlchemyRepository(Repository[E, K]):
    """CRUD on a Core `Table` through a `DatabaseSession`.

    Outside a unit of work each call runs in its own short transaction.
    """

    _select_by_key: ClassVar[Select[Any]]
    _insert: ClassVar[Insert]
    _update_by_key: ClassVar[Update]
    _delete_by_key: ClassVar[Delete]
    _defaulted: ClassVar[frozenset[str]]

    def __init__(self, session: DatabaseSession) -> None:
        self.session = session
        self._dialect = session.dialect

    @classmethod
    def _bind_table(cls) -> None:
        super()._bind_table()
        table = cls.table
        key_column = table.columns[cls._key]
        cls._select_by_key = select(table).where(key_column == bindparam("key"))
        cls._insert = table.insert()
        cls._update_by_key = update(table).where(key_column == bindparam("key"))
        cls._delete_by_key = delete(table).where(key_column == bindparam("key"))
        cls._defaulted = frozenset(
            column.key
            for column in table.columns
            if column.default is not None
            or column.server_default is not None
            or column.autoincrement is True
            or (column.primary_key and column.autoincrement == "auto" and is_integer_column(column))
        )

    @asynccontextmanager
    async def _connection(self, *, statements: int = 1) -> AsyncIterator[AsyncConnection]:
        """A connection for one statement or a transaction for several; errors translated."""
        try:
            context = self.session.statement() if statements == 1 else self.session.transaction()
            async with context as connection:
                yield connection
        except Exception as error:
            translated = translate_error(error, self._dialect, self.table)
            if translated is None or translated is error:
                raise
            raise translated from error

    # -- reads ------------------------------------------------------------------------

    async def get(self, key: K) -> E | None:
        async with self._connection() as connection:
            result = await connection.execute(self._select_by_key, {"key": self._coerce_key(key)})
            row = result.first()
        return None if row is None else self._row_to_entity(row._mapping)

    def _select(
        self,
        filters: Sequence[CheckedFilter],
        sort: Sequence[Sort],
        limit: int | None,
        offset: int,
        after: Sequence[Any] | None,
    ) -> Select[Any]:
        """The SELECT for a page of rows: filters, keyset position, order, limit, offset."""
        statement = select(self.table).where(*map(sql_conditions.condition, filters))
        if after is not None:
            statement = statement.where(sql_conditions.after_position(self._policy, sort, after))
        if sort:
            order = sql_conditions.order_by(self._policy, self._dialect, sort)
            statement = statement.order_by(*order)
        if limit is not None:
            statement = statement.limit(limit)
        if offset:
            statement = statement.offset(offset)
        return statement

    def _count_statement(self, filters: Sequence[CheckedFilter]) -> Select[Any]:
        statement = select(func.count()).select_from(self.table)
        return statement.where(*map(sql_conditions.condition, filters))

    async def _fetch_rows(
        self,
        filters: Sequence[CheckedFilter],
        sort: Sequence[Sort],
        limit: int | None,
        offset: int,
        after: Sequence[Any] | None,
    ) -> builtins.list[Mapping[Any, Any]]:
        statement = self._select(filters, sort, limit, offset, after)
        async with self._connection() as connection:
            result = await connection.execute(statement)
            return [row._mapping for row in result]

    async def _count_and_fetch(
        self, filters: Sequence[CheckedFilter], sort: Sequence[Sort], limit: int, offset: int
    ) -> tuple[int, builtins.list[Mapping[Any, Any]]]:
        page = self._select(filters, sort, limit, offset, None)
        async with self._connection() as connection:
            total = int((await connection.execute(self._count_statement(filters))).scalar_one())
            return total, [row._mapping for row in await connection.execute(page)]

    async def _count(self, filters: Sequence[CheckedFilter]) -> int:
        async with self._connection() as connection:
            result = await connection.execute(self._count_statement(filters))
            return int(result.scalar_one())

    # -- writes -----------------------------------------------------------------------

    def _insert_values(self, entity: E) -> dict[str, Any]:
        """Column values to insert; a defaulted column left None gets its default."""
        values = self._entity_to_dict(entity)
        for name in self._defaulted:
            if name in values and values[name] is None:
                del values[name]
        return values

    async def create(self, entity: E) -> E:
        values = self._insert_values(entity)
        missing = [name for name in self._mapped_fields if name not in values]
        statement = self._insert.return_defaults() if missing else self._insert
        async with self._connection() as connection:
            result = await connection.execute(statement, values)
        if missing:
            generated = result.returned_defaults
            defaults = generated._mapping if generated is not None else {}
            key = result.inserted_primary_key
            values[self._key] = key[0] if key is not None else None
            for name in missing:
                values.setdefault(name, defaults.get(name))
        return self._row_to_entity(values)

    async def bulk_create(self, entities: Iterable[E], *, batch_size: int = 1_000) -> int:
        rows = [self._insert_values(entity) for entity in entities]
        if not rows:
            return 0
        batches = range(0, len(rows), batch_size)
        async with self._connection(statements=len(batches)) as connection:
            for start in batches:
                batch = _uniform_keys(rows[start : start + batch_size])
                await connection.execute(self._insert, batch)
        return len(rows)

    async def update(self, entity: E) -> E:
        values = self._entity_to_dict(entity)
        key = values.pop(self._key)
        async with self._connection() as connection:
            result = await connection.execute(
                self._update_by_key.values(values), {"key": self._coerce_key(key)}
            )
        if result.rowcount == 0:
            raise NotFoundError(self.table.name, key)
        return entity

    async def _update_where(
        self, filters: Sequence[CheckedFilter], values: Mapping[str, Any]
    ) -> int:
        statement = update(self.table).where(*map(sql_conditions.condition, filters)).values(values)
        async with self._connection() as connection:
            return (await connection.execute(statement)).rowcount

    async def delete(self, key: K) -> None:
        async with self._connection() as connection:
            result = await connection.execute(self._delete_by_key, {"key": self._coerce_key(key)})
        if result.rowcount == 0:
            raise NotFoundError(self.table.name, key)

    async def _delete_where(self, filters: Sequence[CheckedFilter]) -> int:
        statement = delete(self.table).where(*map(sql_conditions.condition, filters))
        async with self._connection() as connection:
            return (await connection.execute(statement)).rowcount

    async def _upsert(self, values: dict[str, Any], conflict_columns: tuple[str, ...]) -> E:
        statement = self._dialect.upsert(self.table, values, conflict_columns)
        lookup = select(self.table).where(
            *(self.table.columns[name] == values[name] for name in conflict_columns)
        )
        async with self._connection(statements=2) as connection:
            await connection.execute(statement)
            row = (await connection.execute(lookup)).one()
        return self._row_to_entity(row._mapping)


def _uniform_keys(batch: builtins.list[dict[str, Any]]) -> builtins.list[dict[str, Any]]:
    """One executemany needs the same keys in every row: fill defaults left out by some."""
    names = set().union(*batch)
    if all(len(row) == len(names) for row in batch):
        return batch
    return [{name: row.get(name) for name in names} for row in batch]

"""SQL Server through aioodbc: upsert is a MERGE, errors are read from native numbers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table, bindparam
from sqlalchemy.engine import URL
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.expression import Executable

from .base import Conflict, Diagnosis, Dialect, EngineOptions, Failure, first_match

_FAILURE_BY_NATIVE_ERROR = {
    2627: Failure.UNIQUE,  # unique or primary key constraint
    2601: Failure.UNIQUE,  # unique index
    515: Failure.NOT_NULL,
    8152: Failure.INVALID_VALUE,  # string or binary data would be truncated
    2628: Failure.INVALID_VALUE,
    8115: Failure.INVALID_VALUE,  # arithmetic overflow
    1205: Failure.CONCURRENCY,  # deadlock victim
    4060: Failure.LOGIN_REFUSED,  # cannot open database
    18456: Failure.LOGIN_REFUSED,  # login failed
    10054: Failure.UNAVAILABLE,
    10061: Failure.UNAVAILABLE,
}

DEFAULT_ODBC_DRIVER = "ODBC Driver 18 for SQL Server"


class Merge(Executable, ClauseElement):
    """`MERGE` of one row into a table on the given key columns (SQL Server's upsert)."""

    inherit_cache = False

    def __init__(self, table: Table, values: Mapping[str, Any], conflict: Conflict) -> None:
        self.table = table
        self.values = dict(values)
        self.conflict = conflict


@compiles(Merge, "mssql")
def _compile_merge(merge: Merge, compiler: SQLCompiler, **kw: Any) -> str:
    quote = compiler.preparer.quote
    names = list(merge.values)
    params = ", ".join(
        compiler.process(bindparam(f"merge_{name}", value, type_=merge.table.c[name].type), **kw)
        for name, value in merge.values.items()
    )
    source_columns = ", ".join(quote(name) for name in names)
    conflict = merge.conflict
    on = " AND ".join(f"target.{quote(k)} = source.{quote(k)}" for k in conflict.columns)
    assignments = [f"target.{quote(n)} = source.{quote(n)}" for n in conflict.update]
    if conflict.increment:
        column = quote(conflict.increment)
        assignments.append(f"target.{column} = target.{column} + 1")
    updates = ", ".join(assignments)
    inserted = ", ".join(f"source.{quote(n)}" for n in names)
    matched = f" WHEN MATCHED THEN UPDATE SET {updates}" if updates else ""
    return (
        f"MERGE INTO {compiler.preparer.format_table(merge.table)} WITH (HOLDLOCK) AS target"
        f" USING (VALUES ({params})) AS source ({source_columns}) ON {on}{matched}"
        f" WHEN NOT MATCHED THEN INSERT ({source_columns}) VALUES ({inserted});"
    )


class MSSQLDialect(Dialect):
    name = "mssql"
    system_name = "microsoft.sql_server"
    default_port = 1433
    async_driver = "aioodbc"
    extra = "mssql"
    paging_needs_order = True

    def prepare_url(self, url: URL) -> URL:
        url = super().prepare_url(url)
        if "driver" not in url.query and "odbc_connect" not in url.query:
            url = url.update_query_dict({"driver": DEFAULT_ODBC_DRIVER})
        return url

    def engine_arguments(self, url: URL, options: EngineOptions) -> dict[str, Any]:
        # One round trip per executemany batch instead of one per row.
        return {**super().engine_arguments(url, options), "fast_executemany": True}

    def upsert(self, table: Table, values: Mapping[str, Any], conflict: Conflict) -> Merge:
        return Merge(table, values, conflict)

    def diagnose(self, error: BaseException) -> Diagnosis | None:
        message = " ".join(str(argument) for argument in getattr(error, "args", ()))
        # The native number is the last parenthesised number: a duplicate integer key
        # value, printed earlier in the message, looks the same.
        numbers = re.findall(r"\((\d+)\)", message)
        if not numbers:
            return None
        number = int(numbers[-1])
        if number == 547:  # conflicted with a FOREIGN KEY or CHECK constraint
            constraint = first_match(r'constraint "([^"]*)"', message)
            failure = Failure.FOREIGN_KEY if "FOREIGN KEY" in message else Failure.CHECK
            return Diagnosis(failure, constraint=constraint)
        known = _FAILURE_BY_NATIVE_ERROR.get(number)
        if known is None:
            return None
        failure = known
        if failure is Failure.UNIQUE:
            constraint = first_match(r"(?:constraint|index) '([^']*)'", message)
            return Diagnosis(failure, constraint=constraint)
        if failure is Failure.NOT_NULL:
            column = first_match(r"into column '([^']*)'", message)
            return Diagnosis(failure, columns=(column,) if column else ())
        return Diagnosis(failure)

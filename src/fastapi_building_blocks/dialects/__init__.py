"""Per-database behaviour, looked up by SQLAlchemy dialect name."""

from __future__ import annotations

from ..errors import ConfigurationError
from .base import (
    DEFAULT_ENGINE_OPTIONS,
    DRIVER_AUTOCOMMIT,
    Conflict,
    Diagnosis,
    Dialect,
    EngineOptions,
    Failure,
)
from .mssql import MSSQLDialect
from .mysql import MariaDBDialect, MySQLDialect
from .postgresql import PostgreSQLDialect
from .sqlite import SQLiteDialect

_DIALECTS: dict[str, Dialect] = {
    dialect.name: dialect
    for dialect in (
        SQLiteDialect(),
        PostgreSQLDialect(),
        MySQLDialect(),
        MariaDBDialect(),
        MSSQLDialect(),
    )
}


def dialect_named(name: str) -> Dialect:
    """The dialect for a SQLAlchemy dialect name (`postgresql`, `mysql`, ...)."""
    try:
        return _DIALECTS[name]
    except KeyError:
        supported = ", ".join(sorted(_DIALECTS))
        raise ConfigurationError(
            f"database {name!r} is not supported; use one of: {supported}"
        ) from None


__all__ = [
    "DEFAULT_ENGINE_OPTIONS",
    "DRIVER_AUTOCOMMIT",
    "Conflict",
    "Diagnosis",
    "Dialect",
    "EngineOptions",
    "Failure",
    "dialect_named",
]

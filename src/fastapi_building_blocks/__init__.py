"""SQLAlchemy 2 Core building blocks for async FastAPI services.

One repository contract over SQLite, PostgreSQL, MySQL/MariaDB and SQL Server, chosen by
the database URL alone.
"""

from .columns import (
    NAMING_CONVENTION,
    UTCDateTime,
    integer_primary_key,
    metadata,
    uuid7,
    uuid_primary_key,
)
from .database import DatabaseSession, SQLAlchemySession, mask_url
from .errors import (
    BuildingBlocksError,
    CheckViolationError,
    ConcurrencyError,
    ConfigurationError,
    ConflictError,
    ConstraintViolationError,
    DatabaseUnavailableError,
    ForeignKeyViolationError,
    InvalidFilterError,
    MultipleResultsFoundError,
    NotFoundError,
    NotNullViolationError,
    RepositoryError,
    UniqueViolationError,
)
from .repository import (
    CursorPage,
    Filter,
    InMemoryDatabase,
    InMemoryRepository,
    Page,
    Repository,
    Sort,
    SQLAlchemyRepository,
)

__all__ = [
    "NAMING_CONVENTION",
    "BuildingBlocksError",
    "CheckViolationError",
    "ConcurrencyError",
    "ConfigurationError",
    "ConflictError",
    "ConstraintViolationError",
    "CursorPage",
    "DatabaseSession",
    "DatabaseUnavailableError",
    "Filter",
    "ForeignKeyViolationError",
    "InMemoryDatabase",
    "InMemoryRepository",
    "InvalidFilterError",
    "MultipleResultsFoundError",
    "NotFoundError",
    "NotNullViolationError",
    "Page",
    "Repository",
    "RepositoryError",
    "SQLAlchemyRepository",
    "SQLAlchemySession",
    "Sort",
    "UTCDateTime",
    "UniqueViolationError",
    "integer_primary_key",
    "mask_url",
    "metadata",
    "uuid7",
    "uuid_primary_key",
]

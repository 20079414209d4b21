"""FastAPI integration: lifespan, dependencies, CRUD routers, health, problem+json errors."""

from .crud import CursorPageOut, PageOut, crud_router, parse_filters, parse_sort
from .dependencies import (
    Database,
    Work,
    database,
    database_named,
    get_database,
    get_unit_of_work,
    open_databases,
    repository,
    repository_in_unit_of_work,
)
from .health import router as health_router
from .problems import PROBLEM_JSON, install_problem_handlers, problem

__all__ = [
    "PROBLEM_JSON",
    "CursorPageOut",
    "Database",
    "PageOut",
    "Work",
    "crud_router",
    "database",
    "database_named",
    "get_database",
    "get_unit_of_work",
    "health_router",
    "install_problem_handlers",
    "open_databases",
    "parse_filters",
    "parse_sort",
    "problem",
    "repository",
    "repository_in_unit_of_work",
]

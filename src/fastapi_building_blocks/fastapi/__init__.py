"""FastAPI integration: lifespan, dependencies, CRUD routers, health, problem+json errors."""

try:
    import fastapi as _fastapi  # noqa: F401 - only to say what is missing, and how to get it
except ModuleNotFoundError as missing:
    raise ModuleNotFoundError(
        "fastapi_building_blocks.fastapi needs FastAPI (not installed): "
        "pip install 'fastapi-building-blocks[fastapi]'",
        name=missing.name,
    ) from None

from .crud import CursorPageOut, PageOut, crud_router, parse_sort
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
    unit_of_work,
)
from .docs import install_offline_docs
from .filter_language import parse_filters
from .health import router as health_router
from .problem_body import PROBLEM_JSON, problem
from .problems import Problem, install_problem_handlers, problem_responses
from .read_your_writes import ReadYourWritesMiddleware

__all__ = [
    "PROBLEM_JSON",
    "CursorPageOut",
    "Database",
    "PageOut",
    "Problem",
    "ReadYourWritesMiddleware",
    "Work",
    "crud_router",
    "database",
    "database_named",
    "get_database",
    "get_unit_of_work",
    "health_router",
    "install_offline_docs",
    "install_problem_handlers",
    "open_databases",
    "parse_filters",
    "parse_sort",
    "problem",
    "problem_responses",
    "repository",
    "repository_in_unit_of_work",
    "unit_of_work",
]

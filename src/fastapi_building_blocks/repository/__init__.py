"""Repositories: the contract, its SQLAlchemy Core implementation and its in-memory twin."""

from .contract import Repository
from .memory import InMemoryDatabase, InMemoryRepository
from .operators import OPERATORS, Operator
from .policy import QueryPolicy
from .query import CursorPage, Filter, FilterGroup, Page, Sort, all_of, any_of
from .sqlalchemy import SQLAlchemyRepository

__all__ = [
    "OPERATORS",
    "CursorPage",
    "Filter",
    "FilterGroup",
    "InMemoryDatabase",
    "InMemoryRepository",
    "Operator",
    "Page",
    "QueryPolicy",
    "Repository",
    "SQLAlchemyRepository",
    "Sort",
    "all_of",
    "any_of",
]

"""Repositories: the contract, its SQLAlchemy Core implementation and its in-memory twin."""

from .contract import Repository
from .memory import InMemoryDatabase, InMemoryRepository
from .policy import QueryPolicy
from .query import OPERATORS, CursorPage, Filter, Operator, Page, Sort
from .sqlalchemy import SQLAlchemyRepository

__all__ = [
    "OPERATORS",
    "CursorPage",
    "Filter",
    "InMemoryDatabase",
    "InMemoryRepository",
    "Operator",
    "Page",
    "QueryPolicy",
    "Repository",
    "SQLAlchemyRepository",
    "Sort",
]

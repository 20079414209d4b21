"""FastAPI integration: problem+json error responses."""

from .problems import PROBLEM_JSON, install_problem_handlers, problem

__all__ = ["PROBLEM_JSON", "install_problem_handlers", "problem"]

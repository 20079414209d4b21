"""The exception tree drawn in `errors.py` is the class hierarchy, and each HTTP status
the problem handlers send follows from a class's place in it."""

from __future__ import annotations

import re

import pytest

from fastapi_building_blocks import errors
from fastapi_building_blocks.fastapi.problems import status_of


def drawn_tree() -> dict[str, str]:
    """Each class in the docstring's drawing, with the class drawn above it."""
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in (errors.__doc__ or "").splitlines():
        found = re.match(r"^(\s*(?:[│ ]\s*)*)(?:[├└]── )?([A-Z]\w+Error)\b", line)
        if not found:
            continue
        depth = len(found.group(1)) + (4 if "──" in line else 0)
        name = found.group(2)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            parents[name] = stack[-1][1]
        stack.append((depth, name))
    return parents


def public_errors() -> list[type[Exception]]:
    return [
        value
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, Exception) and not name.startswith("_")
    ]


def test_the_drawing_names_every_public_error_class() -> None:
    drawn = set(drawn_tree()) | {"BuildingBlocksError"}

    assert drawn == {kind.__name__ for kind in public_errors()}


@pytest.mark.parametrize("kind", public_errors(), ids=lambda kind: kind.__name__)
def test_each_class_subclasses_the_one_drawn_above_it(kind: type[Exception]) -> None:
    parent = drawn_tree().get(kind.__name__)
    if parent is None:
        assert kind is errors.BuildingBlocksError
        return
    public_bases = [base for base in kind.__mro__[1:] if not base.__name__.startswith("_")]
    assert public_bases[0].__name__ == parent


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.UniqueViolationError("x"), 409),
        (errors.ForeignKeyViolationError("x"), 409),
        (errors.NotNullViolationError("x"), 422),
        (errors.InvalidValueError("x"), 422),
        (errors.NotFoundError("t", 1), 404),
        (errors.InvalidFilterError("x"), 400),
        (errors.ConcurrencyError("x"), 409),
        (errors.DatabaseUnavailableError("x"), 503),
        (errors.StatementTimeoutError("x"), 504),
        (errors.LoginRefusedError("x"), 503),
        (errors.CommitOutcomeUnknownError("x"), 503),
        (errors.MultipleResultsFoundError("x"), 500),
        (errors.UnitOfWorkError("x"), 500),
    ],
)
def test_the_status_follows_the_tree(error: errors.RepositoryError, status: int) -> None:
    assert status_of(error) == status

"""The query-string filter language: `filter=field:op:value`, repeatable, all must hold.

    filter=last_name:eq:Test
    filter=score:in:1,2,3                      in, not_in and between take a comma list
    filter=any(first_name:contains:al|last_name:contains:al)
    filter=any(all(category:eq:alpha|score:gt:6)|score:eq:1)

Inside `any(...)` / `all(...)` members are separated by `|`; a `|`, `(`, `)` or `\\`
inside a value is written `\\|`, `\\(`, `\\)`, `\\\\`. Outside a group the value is taken
as it is. The repository then checks fields, operators, values and the limits.
"""

from __future__ import annotations

from ..errors import InvalidFilterError
from ..repository import Filter, FilterGroup, all_of, any_of
from ..repository.operators import OPERATORS
from ..repository.query import Condition

#: The shape the OpenAPI document declares for one `filter` value.
FILTER_PATTERN = r"^((any|all)\(|[^:()|]+:[^:]+:)"
_GROUP_OPENERS = {"any(": any_of, "all(": all_of}


def parse_filters(expressions: list[str]) -> list[Condition]:
    """`filter` query values as filters and groups, or InvalidFilterError."""
    return [_Parser(expression).whole() for expression in expressions]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0

    def whole(self) -> Condition:
        if self._group_ahead():
            condition = self._group()
            if self.position != len(self.text):
                raise self._error("text after the group's closing parenthesis")
            return condition
        return _leaf(self.text, self.text)  # a plain filter: its value is taken verbatim

    def _group_ahead(self) -> bool:
        return any(self.text.startswith(opener, self.position) for opener in _GROUP_OPENERS)

    def _group(self) -> FilterGroup:
        make = _GROUP_OPENERS[self.text[self.position : self.position + 4]]
        self.position += 4
        members: list[Condition] = []
        while True:
            members.append(self._group() if self._group_ahead() else self._member())
            if self.position >= len(self.text):
                raise self._error("a group is not closed with ')'")
            separator = self.text[self.position]
            self.position += 1
            if separator == ")":
                return make(*members)
            if separator != "|":
                raise self._error(f"expected '|' or ')' at position {self.position}")

    def _member(self) -> Filter:
        characters: list[str] = []
        text = self.text
        while self.position < len(text) and text[self.position] not in "|)":
            character = text[self.position]
            if character == "\\" and self.position + 1 < len(text):
                self.position += 1
                character = text[self.position]
            elif character == "(":
                raise self._error("write '(' inside a value as '\\('")
            characters.append(character)
            self.position += 1
        return _leaf("".join(characters), self.text)

    def _error(self, problem: str) -> InvalidFilterError:
        return InvalidFilterError(f"filter {self.text!r}: {problem}", field="filter")


def _leaf(expression: str, whole: str) -> Filter:
    parts = expression.split(":", 2)
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise InvalidFilterError(f"filter {whole!r}: {expression!r} is not field:op:value",
                                 field=parts[0] or "filter")  # fmt: skip
    field, op, value = parts
    operator = OPERATORS.get(op)
    return Filter(field, op, value.split(",") if operator and operator.takes_list else value)

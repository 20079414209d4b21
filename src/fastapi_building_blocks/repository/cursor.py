"""Opaque cursors for keyset pages: the sort keys' values of the last row seen.

A cursor is not secret (anyone can base64-decode it) and needs not be: its values are
coerced like any filter value and bound as parameters, so a forged one can only start a
page somewhere else. It names its sort, so it cannot be replayed under another one.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from pydantic_core import from_json, to_json

from ..errors import InvalidFilterError
from .policy import QueryPolicy
from .query import SortOrder

#: Longer than a cursor this module writes for a sort on a few short columns, and within
#: the URL length servers and proxies accept (8 KiB).
MAX_CURSOR_LENGTH = 6_000
_SCALARS = (str, int, float, bool)


def encode_cursor(sort: SortOrder, row: Mapping[str, Any]) -> str:
    # A UUID as its text: asyncpg's own UUID class takes pydantic's slow path (7 µs, not 1).
    after = [_as_json(row[key.field]) for key in sort]
    payload = {"sort": sort.signature, "after": after}
    return base64.urlsafe_b64encode(to_json(payload)).decode().rstrip("=")


def _as_json(value: Any) -> Any:
    return str(value) if isinstance(value, UUID) else value


def decode_cursor(cursor: str, sort: SortOrder, policy: QueryPolicy) -> list[Any]:
    """The values the next page starts after, or InvalidFilterError for a bad cursor.

    Only the shape this module writes is accepted: a flat list of JSON scalars, each then
    coerced and checked like a filter value (so a forged one cannot smuggle in a value
    the database would choke on).
    """
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise policy.invalid("the cursor is not one this API issued", "cursor")
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = from_json(text)
        values = payload["after"]
        signature = payload["sort"]
    except (binascii.Error, ValueError, TypeError, KeyError, RecursionError) as error:
        raise policy.invalid("the cursor is not one this API issued", "cursor") from error
    if (
        signature != sort.signature
        or not isinstance(values, list)
        or len(values) != len(sort)
        or not all(value is None or isinstance(value, _SCALARS) for value in values)
    ):
        raise policy.invalid("the cursor belongs to another sort order", "cursor")
    try:
        return [policy.coerce(key.field, value) for key, value in zip(sort, values, strict=True)]
    except InvalidFilterError as error:
        raise policy.invalid("the cursor is not one this API issued", "cursor") from error

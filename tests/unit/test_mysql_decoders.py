"""The MySQL session's date decoders give exactly what PyMySQL's own would."""

from __future__ import annotations

from typing import Any

import pytest
from pymysql.constants import FIELD_TYPE
from pymysql.converters import decoders as pymysql_decoders

from fastapi_building_blocks.dialects.mysql import fast_decoders

SENT_BY_THE_SERVER = [
    "2026-01-02 03:04:05.678901",
    "2026-01-02 03:04:05.5",
    "2026-01-02 03:04:05",
    b"2026-01-02 03:04:05",
    "0000-00-00 00:00:00",  # a zero date: PyMySQL hands back the text
    "2007-02-31 23:06:20",  # no such day
    "2026-1-2 3:04:05",
]
DATES = ["2026-01-02", "0000-00-00", "2007-02-31", "2026-1-2", b"2026-01-02"]


@pytest.mark.parametrize("sent", SENT_BY_THE_SERVER)
@pytest.mark.parametrize("field", [FIELD_TYPE.DATETIME, FIELD_TYPE.TIMESTAMP])
def test_datetimes_decode_as_pymysql_decodes_them(field: int, sent: Any) -> None:
    decoded = fast_decoders()[field](sent)

    assert decoded == pymysql_decoders[field](sent)
    assert type(decoded) is type(pymysql_decoders[field](sent))


@pytest.mark.parametrize("sent", DATES)
def test_dates_decode_as_pymysql_decodes_them(sent: Any) -> None:
    decoded = fast_decoders()[FIELD_TYPE.DATE](sent)

    assert decoded == pymysql_decoders[FIELD_TYPE.DATE](sent)
    assert type(decoded) is type(pymysql_decoders[FIELD_TYPE.DATE](sent))


def test_every_other_type_keeps_pymysqls_decoder() -> None:
    fast = fast_decoders()
    changed = {field for field in fast if fast[field] is not pymysql_decoders.get(field)}

    assert changed == {FIELD_TYPE.DATETIME, FIELD_TYPE.TIMESTAMP, FIELD_TYPE.DATE}

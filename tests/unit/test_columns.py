"""Column helpers that need no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from unittest.mock import patch

import pytest

from fastapi_building_blocks import UTCDateTime, uuid7


def test_uuid7_has_version_7_and_the_rfc_variant() -> None:
    value = uuid7()

    assert value.version == 7
    assert value.variant == "specified in RFC 4122"


def test_uuid7_carries_the_current_unix_time_in_milliseconds() -> None:
    before = int(datetime.now(UTC).timestamp() * 1000)
    value = uuid7()
    after = int(datetime.now(UTC).timestamp() * 1000)

    assert before <= value.int >> 80 <= after


def test_uuid7_values_from_different_milliseconds_sort_by_time() -> None:
    earlier = uuid7()
    later = uuid7()
    while later.int >> 80 == earlier.int >> 80:
        later = uuid7()

    assert earlier < later


def test_uuid7_values_made_within_one_millisecond_keep_the_order_they_were_made_in() -> None:
    values = [uuid7() for _ in range(10_000)]  # thousands per millisecond

    assert len({value.int >> 80 for value in values}) < len(values)  # shared milliseconds
    assert values == sorted(values)
    assert len(set(values)) == len(values)
    assert [value.hex for value in values] == sorted(value.hex for value in values)  # as text
    assert all(value.version == 7 and value.variant == "specified in RFC 4122" for value in values)


def test_uuid7_keeps_its_order_when_the_clock_steps_back() -> None:
    later = uuid7()
    with patch("time.time_ns", return_value=(later.int >> 80) * 1_000_000 - 10**9):
        after_the_step = uuid7()

    assert after_the_step > later


def test_utc_datetime_normalizes_any_offset_to_utc() -> None:
    local = datetime(2026, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=-5)))

    assert UTCDateTime.normalize(local) == datetime(2026, 5, 1, 17, 0, tzinfo=UTC)
    assert UTCDateTime.normalize(local).tzinfo is UTC


def test_utc_datetime_refuses_a_naive_value() -> None:
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime.normalize(datetime(2026, 5, 1, 12, 0))


def test_a_foreign_key_takes_the_type_of_the_key_it_refers_to_on_every_dialect() -> None:
    from sqlalchemy import Column, Integer, MetaData, Table
    from sqlalchemy.dialects import mysql, postgresql, sqlite

    from fastapi_building_blocks import foreign_key, integer_primary_key

    schema = MetaData()
    owners = Table("owners", schema, integer_primary_key())
    pets = Table("pets", schema, integer_primary_key(), foreign_key("owner_id", owners))
    owner_id, owner_key = pets.c.owner_id, owners.c.id

    for dialect in (sqlite.dialect(), postgresql.dialect(), mysql.dialect()):  # type: ignore[no-untyped-call]
        assert owner_id.type.compile(dialect) == owner_key.type.compile(dialect)
    assert [fk.column for fk in owner_id.foreign_keys] == [owner_key]
    assert owner_id.index
    assert not owner_id.nullable
    pairs = Table("pairs", schema, Column("a", Integer, primary_key=True),
                  Column("b", Integer, primary_key=True))  # fmt: skip
    with pytest.raises(ValueError, match="name the column"):
        foreign_key("pair_id", pairs)

"""Records: the driver's rows kept positional, read as mappings wherever a caller asks."""

from __future__ import annotations

from fastapi_building_blocks.records import Records

COLUMNS = ("id", "name", "score")
VALUES = [(1, "ada", 10), (2, "grace", 20), (3, "linus", 30)]


def records() -> Records:
    return Records(COLUMNS, VALUES, {})


def test_a_row_read_by_index_is_a_dict_of_its_columns() -> None:
    assert records()[1] == {"id": 2, "name": "grace", "score": 20}
    assert records()[-1] == {"id": 3, "name": "linus", "score": 30}


def test_iterating_gives_each_row_as_a_dict_in_order() -> None:
    assert list(records()) == [dict(zip(COLUMNS, row, strict=True)) for row in VALUES]
    assert len(records()) == 3


def test_a_slice_is_records_of_those_rows() -> None:
    head = records()[:2]

    assert isinstance(head, Records)
    assert [row["name"] for row in head] == ["ada", "grace"]


def test_values_of_names_come_in_the_order_asked_not_the_columns_order() -> None:
    assert list(records().values_of(("score", "id"))) == [(10, 1), (20, 2), (30, 3)]


def test_records_of_one_statement_share_the_positions_they_looked_up() -> None:
    getters: dict[tuple[str, ...], object] = {}
    first = Records(COLUMNS, VALUES, getters)  # type: ignore[arg-type]
    list(first.values_of(("name", "id")))

    second = Records(COLUMNS, [(9, "ken", 90)], getters)  # type: ignore[arg-type]

    assert list(second.values_of(("name", "id"))) == [("ken", 9)]
    assert list(getters) == [("name", "id")]

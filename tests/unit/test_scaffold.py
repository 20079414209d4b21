"""The scaffold refuses what would not make a working service, before writing anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastapi_building_blocks import scaffold
from fastapi_building_blocks.scaffold import new_service, renamed


@pytest.mark.parametrize("name", ["Orders", "orders-service", "2orders", "class", ""])
def test_a_name_that_is_not_a_package_name_is_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="package name"):
        new_service(name, tmp_path / "service")

    assert not (tmp_path / "service").exists()


def test_a_folder_that_holds_something_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")

    with pytest.raises(FileExistsError):
        new_service("orders_service", tmp_path)

    assert [path.name for path in tmp_path.iterdir()] == ["notes.txt"]


def test_every_spelling_of_the_example_is_renamed() -> None:
    text = "example_service example-service Example users service ./example.db"

    assert renamed(text, "orders_service") == (
        "orders_service orders-service Orders service ./orders_service.db"
    )


def test_every_way_the_example_is_started_gives_uvicorn_the_same_request_head() -> None:
    root = Path(__file__).parents[2]
    flag = f"--h11-max-incomplete-event-size {scaffold.SERVER_HEAD_BYTES}"

    assert f"MAX_HEAD_BYTES ?= {scaffold.SERVER_HEAD_BYTES}" in (root / "Makefile").read_text()
    assert flag in (root / "example_service" / "Dockerfile").read_text()

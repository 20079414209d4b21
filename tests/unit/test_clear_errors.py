"""A wrong piece in the wrong place says what to use instead, not an AttributeError."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fastapi_building_blocks import InMemoryDatabase
from tests.schema import SQLThings


def test_an_sql_repository_on_an_in_memory_database_names_the_right_pairing() -> None:
    with pytest.raises(TypeError, match="InMemoryRepository"):
        SQLThings(InMemoryDatabase())  # type: ignore[arg-type]


def test_the_fastapi_module_without_fastapi_names_the_extra_to_install() -> None:
    without_fastapi = (
        "import sys; sys.modules['fastapi'] = None; import fastapi_building_blocks.fastapi"
    )

    run = subprocess.run([sys.executable, "-c", without_fastapi], capture_output=True, text=True)

    assert run.returncode != 0
    assert "pip install 'fastapi-building-blocks[fastapi]'" in run.stderr

"""A new service from the example: `python -m fastapi_building_blocks new-service NAME`.

The example service is the template, so there is one service to keep working, not two:
its package is copied and renamed throughout (`example_service` → NAME), with its
migrations, its tests (API, migration drift, in-memory unit tests) and a Makefile of its
own (`make run`, `make migrate`, `make revision MESSAGE=...`, `make test`). Left out:
the Dockerfile and the observability files, which belong to this repository's demo stack.

The wheel carries the example under `_template/` (see pyproject.toml); an editable
checkout uses the repository's own `example_service/`.
"""

from __future__ import annotations

import keyword
import sys
from pathlib import Path

TEMPLATE_PACKAGE = "example_service"
#: Copied from the example: the service itself; not the demo stack's files.
LEFT_OUT = {"Dockerfile", "observability", "__pycache__"}
LEFT_OUT_SUFFIXES = {".pyc", ".db"}

#: The request head uvicorn is started with (`--h11-max-incomplete-event-size`; its
#: default is 16 KiB): past the 414 bound of `install_problem_handlers`, so an overlong
#: URL that arrives in several reads still reaches the app. The example's Makefile and
#: Dockerfile carry the same number (tests/unit/test_scaffold.py holds them to it).
SERVER_HEAD_BYTES = 1_048_576

MAKEFILE = """\
# {name}: `make run` serves it on SQLite (DATABASE_URL switches the database),
# `make test` runs its tests. PYTHON is the interpreter that has fastapi-building-blocks.
PYTHON ?= {python}
ALEMBIC := $(PYTHON) -m alembic -c {name}/alembic.ini
PORT ?= 8000
# The longest request head uvicorn buffers (its default is 16 KiB): a longer path or
# query then reaches the app, which answers 414 problem+json above 64 KiB.
MAX_HEAD_BYTES ?= {head_bytes}

.PHONY: run migrate revision test

run: migrate
\t$(PYTHON) -m uvicorn --factory {name}.app.main:create_app --host 127.0.0.1 --port $(PORT) \\
\t\t--h11-max-incomplete-event-size $(MAX_HEAD_BYTES)

migrate:
\t$(PYTHON) -m fastapi_building_blocks migrate {name}/alembic.ini

# After changing {name}/app/infrastructure/tables.py: make revision MESSAGE="add orders"
revision:
\t$(ALEMBIC) revision --autogenerate -m "$(MESSAGE)"

test:
\t$(PYTHON) -m pytest {name}/tests
"""

PYPROJECT = """\
[project]
name = "{dashed}"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = [
    "fastapi-building-blocks[sqlite,postgres,mysql,fastapi,otel]",
    "uvicorn>=0.30",
    "alembic>=1.13",
]

[project.optional-dependencies]
test = ["pytest>=8.2", "pytest-asyncio>=0.24", "httpx>=0.27"]

[tool.pytest.ini_options]
testpaths = ["{name}/tests"]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "session"
asyncio_default_test_loop_scope = "session"
"""

GITIGNORE = "__pycache__/\n*.db\n.env\n"


def template_directory() -> Path:
    package = Path(__file__).resolve().parent
    for candidate in (package / "_template" / TEMPLATE_PACKAGE,
                      package.parents[1] / TEMPLATE_PACKAGE):  # fmt: skip
        if (candidate / "app" / "main.py").is_file():
            return candidate
    raise FileNotFoundError("the example service is not installed with this package")


def renamed(text: str, name: str) -> str:
    dashed = name.replace("_", "-")
    title = name.replace("_", " ").capitalize()
    for old, new in (
        (TEMPLATE_PACKAGE, name),
        ("example-service", dashed),
        ("Example users service", title),
        ("example.db", f"{name}.db"),
        ("The example service", f"The {title.lower()}"),
        ("the example service", "this service"),
    ):
        text = text.replace(old, new)
    return text


def new_service(name: str, path: Path) -> Path:
    """Write the service NAME into `path` (created; it must not hold anything yet)."""
    if not name.isidentifier() or keyword.iskeyword(name) or not name.islower():
        raise ValueError(f"{name!r} is not a package name: use lower_case_with_underscores")
    if path.exists() and any(path.iterdir()):
        raise FileExistsError(f"{path} is not empty")
    source = template_directory()
    target = path / name
    for file in sorted(source.rglob("*")):
        relative = file.relative_to(source)
        if LEFT_OUT & set(relative.parts) or file.suffix in LEFT_OUT_SUFFIXES or file.is_dir():
            continue
        destination = target / Path(*(renamed(part, name) for part in relative.parts))
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(renamed(file.read_text(), name))
    dashed = name.replace("_", "-")
    makefile = MAKEFILE.format(name=name, python=sys.executable, head_bytes=SERVER_HEAD_BYTES)
    (path / "Makefile").write_text(makefile)
    (path / "pyproject.toml").write_text(PYPROJECT.format(name=name, dashed=dashed))
    (path / ".gitignore").write_text(GITIGNORE)
    return target

# Two commands on a fresh machine: `make run` serves the example service on SQLite,
# `make test` starts real PostgreSQL and MariaDB and runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

ALEMBIC := $(BIN)/alembic -c example_service/alembic.ini
PORT ?= 8000
# The longest request head uvicorn buffers (its default is 16 KiB): a longer path or
# query then reaches the app, which answers 414 problem+json above 64 KiB.
MAX_HEAD_BYTES ?= 1048576

.PHONY: run migrate init-sql test servers lint format bench fuzz clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: migrate
	$(BIN)/uvicorn --factory example_service.app.main:create_app --host 127.0.0.1 --port $(PORT) \
		--h11-max-incomplete-event-size $(MAX_HEAD_BYTES)

# Every database the service has migrations for (alembic.ini's sections), to its head.
migrate: $(STAMP)
	$(BIN)/python -m fastapi_building_blocks migrate example_service/alembic.ini

# init.sql (the demo stack's PostgreSQL schema) is generated from the migrations.
init-sql: $(STAMP)
	$(ALEMBIC) -x url=postgresql:// upgrade head --sql > init.sql

servers:
	bash tests/servers/ensure.sh

test: $(STAMP) servers
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests example_service bench
	$(BIN)/ruff format --check src tests example_service bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix src tests example_service bench
	$(BIN)/ruff format src tests example_service bench

# Schemathesis with every check, about 10,000 cases per backend and a fresh seed.
fuzz: $(STAMP) servers
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-750} FUZZ_SEED= $(BIN)/pytest -q tests/fuzz

bench: $(STAMP) servers
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache example.db*

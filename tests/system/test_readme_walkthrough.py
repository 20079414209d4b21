"""The README's walkthrough against a real server process started the README's way
(`make run`), on SQLite and, with only DATABASE_URL changed, PostgreSQL and MariaDB."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.backends import SQL_BACKENDS
from tests.conftest import backend_url
from tests.service.conftest import migrate
from tests.system.service_process import free_port, running_service

ALICE = {"first_name": "Alice", "last_name": "Test", "email": "alice@test.com", "username": "alice"}


@pytest.fixture
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with running_service(backend_url(request.param, tmp_path), tmp_path) as base:
        yield base


@pytest.fixture(autouse=True)
async def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Server databases start without the service's tables; `make run` migrates them."""
    name = request.node.callspec.params["server"]
    if name != "sqlite":
        await migrate(backend_url(name, tmp_path), revision="base")


@pytest.mark.parametrize("server", SQL_BACKENDS, indirect=True)
def test_the_readme_walkthrough(server: str) -> None:
    created = httpx.post(f"{server}/api/v1/users/", json=ALICE, timeout=10)
    listed = httpx.get(f"{server}/api/v1/users/", timeout=10)

    assert created.status_code == 201, created.text
    assert listed.status_code == 200
    assert [user["email"] for user in listed.json()["items"]] == ["alice@test.com"]
    duplicate = httpx.post(f"{server}/api/v1/users/", json=ALICE, timeout=10)
    assert duplicate.status_code == 409
    assert duplicate.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)
def test_prometheus_can_scrape_the_operation_histogram(server: str) -> None:
    httpx.post(f"{server}/api/v1/users/", json=ALICE, timeout=10)

    scraped = httpx.get(f"{server}/metrics", timeout=10)

    families = {family.name: family for family in text_string_to_metric_families(scraped.text)}
    operations = families["db_client_operation_duration_seconds"]
    assert operations.type == "histogram"
    counted = [sample.labels for sample in operations.samples if sample.name.endswith("_count")]
    wanted = {"db_operation_name": "create", "db_collection_name": "users"}
    assert any(wanted.items() <= labels.items() for labels in counted)
    assert "db_client_connection_count" in families


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)
def test_a_real_prometheus_scrapes_the_service(server: str, tmp_path: Path) -> None:
    binary = shutil.which("prometheus")
    assert binary, "tests/servers/ensure.sh installs Debian's prometheus package"
    target = server.removeprefix("http://")
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s}\n"
        f"scrape_configs: [{{job_name: service, static_configs: [{{targets: ['{target}']}}]}}]\n"
    )
    port = free_port()
    prometheus = subprocess.Popen(
        [binary, f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        httpx.post(f"{server}/api/v1/users/", json=ALICE, timeout=10)
        query = 'db_client_operation_duration_seconds_count{db_operation_name="create"}'
        found: list[object] = []
        deadline = time.monotonic() + 60
        while not found and time.monotonic() < deadline:
            time.sleep(1)
            try:
                answer = httpx.get(
                    f"http://127.0.0.1:{port}/api/v1/query", params={"query": query}, timeout=5
                ).json()
                found = answer["data"]["result"]
            except (httpx.TransportError, KeyError, ValueError):
                continue
    finally:
        prometheus.terminate()
        prometheus.wait(timeout=30)

    assert found, "Prometheus never stored the operation histogram"

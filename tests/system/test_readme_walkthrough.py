"""The README's walkthrough against a real server process started the README's way
(`make run`), on SQLite and, with only DATABASE_URL changed, PostgreSQL and MariaDB."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.backends import SQL_BACKENDS
from tests.conftest import backend_url
from tests.servers.replicas import POSTGRESQL
from tests.service.conftest import migrate
from tests.system.service_process import ROOT, free_port, running_service

ALICE = {"first_name": "Alice", "last_name": "Test", "email": "alice@test.com", "username": "alice"}


@pytest.fixture
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """`make run` on a backend; "postgresql+replica" reads from the test server's replica."""
    name, _, replica = request.param.partition("+")
    environment = (
        {"DATABASES__default__REPLICA_URLS": json.dumps([POSTGRESQL.replica_url])}
        if replica
        else {}
    )
    with running_service(backend_url(name, tmp_path), tmp_path, environment) as base:
        yield base


@pytest.fixture(autouse=True)
async def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Server databases start without the service's tables; `make run` migrates them."""
    name = request.node.callspec.params["server"].partition("+")[0]
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


DASHBOARD = ROOT / "example_service/observability/grafana/dashboards/example-service.json"


def dashboard_queries() -> dict[str, str]:
    """Every PromQL expression the demo stack's Grafana dashboard plots, by legend."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return {
        f"{panel['title']}: {target['legendFormat']}": target["expr"]
        for panel in panels
        for target in panel["targets"]
    }


class Prometheus:
    """Debian's prometheus binary scraping one target every second."""

    def __init__(self, target: str, directory: Path) -> None:
        binary = shutil.which("prometheus")
        assert binary, "tests/servers/ensure.sh installs Debian's prometheus package"
        job = f"{{job_name: service, static_configs: [{{targets: ['{target}']}}]}}"
        (directory / "prometheus.yml").write_text(
            f"global: {{scrape_interval: 1s}}\nscrape_configs: [{job}]\n"
        )
        self.port = free_port()
        self.process = subprocess.Popen(
            [binary, f"--config.file={directory / 'prometheus.yml'}",
             f"--storage.tsdb.path={directory / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def query(self, expression: str) -> dict[str, Any]:
        """The API's answer; status "error" for an expression Prometheus cannot parse."""
        answer = httpx.get(
            f"http://127.0.0.1:{self.port}/api/v1/query", params={"query": expression}, timeout=5
        )
        return answer.json()  # type: ignore[no-any-return]

    def wait_for(self, expression: str, seconds: float = 60) -> list[Any]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(1)
            try:
                found: list[Any] = self.query(expression)["data"]["result"]
            except (httpx.TransportError, KeyError, ValueError):
                continue
            if found:
                return found
        return []

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


@pytest.mark.parametrize("server", ["postgresql+replica"], indirect=True)
def test_a_real_prometheus_scrapes_the_service_and_every_dashboard_query_has_data(
    server: str, tmp_path: Path
) -> None:
    """On PostgreSQL with a replica, so that the replica panel has data too."""
    prometheus = Prometheus(server.removeprefix("http://"), tmp_path)
    try:
        httpx.post(f"{server}/api/v1/users/", json=ALICE, timeout=10)
        httpx.post(f"{server}/api/v1/users/", json=ALICE, timeout=10)  # 409: a database error
        httpx.get(f"{server}/api/v1/users/", timeout=10)  # a read, on the replica
        stored = prometheus.wait_for(
            'db_client_operation_duration_seconds_count{db_operation_name="create"}'
        )
        time.sleep(3)  # rate() needs two scrapes of the same series
        answers = {legend: prometheus.query(expr) for legend, expr in dashboard_queries().items()}
    finally:
        prometheus.stop()

    assert stored, "Prometheus never stored the operation histogram"
    for legend, answer in answers.items():
        assert answer["status"] == "success", f"{legend}: {answer}"
    empty = {legend for legend, answer in answers.items() if not answer["data"]["result"]}
    assert empty == {"Errors: 5xx {{http_route}}"}  # the service answered no 5xx

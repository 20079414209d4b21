"""The demo stack, checked without a Docker engine: the compose file against the Compose
Specification's JSON schema, and the wiring between its services and config files."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml
from sqlalchemy.engine import make_url

ROOT = Path(__file__).parents[2]
COMPOSE_FILE = ROOT / "docker-compose.observability.yml"


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE_FILE)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]  # type: ignore[no-any-return]


def host_mounts(service: dict[str, Any]) -> dict[str, str]:
    """Bind mounts of a service: container path -> host path."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            mounts[target] = source
    return mounts


def published_ports(service: dict[str, Any]) -> set[int]:
    return {int(str(port).split(":")[-1]) for port in service.get("ports", [])}


@pytest.fixture(scope="module")
def compose_schema() -> dict[str, Any]:
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    return json.loads(schema_file.read_text())  # type: ignore[no-any-return]


def test_the_compose_file_follows_the_compose_specification(
    compose: dict[str, Any], compose_schema: dict[str, Any]
) -> None:
    jsonschema.validate(compose, compose_schema)


@pytest.mark.parametrize(
    "broken",
    [
        {"services": {"app": {"image": "x", "ports": {"8000": 8000}}}},
        {"services": {"app": {"image": "x", "depends_on": {"db": {"condition": "whenever"}}}}},
        {"services": {"app": {"image": "x", "restart_policy": "always"}}},
    ],
)
def test_the_schema_check_rejects_a_broken_compose_file(
    compose_schema: dict[str, Any], broken: dict[str, Any]
) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, compose_schema)


def test_the_stack_has_every_service_the_demo_needs(services: dict[str, Any]) -> None:
    assert set(services) == {"postgres", "app", "otel-collector", "jaeger", "prometheus", "grafana"}


def test_every_mounted_file_and_the_build_exist(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for source in host_mounts(service).values():
            assert (ROOT / source).exists(), f"{name} mounts missing {source}"
    build = services["app"]["build"]
    assert (ROOT / build["context"] / build["dockerfile"]).is_file()


def test_postgres_loads_init_sql_on_first_start(services: dict[str, Any]) -> None:
    mounts = host_mounts(services["postgres"])

    assert any(
        target.startswith("/docker-entrypoint-initdb.d/") and source == "./init.sql"
        for target, source in mounts.items()
    )


def test_the_app_reaches_postgres_with_its_own_credentials(services: dict[str, Any]) -> None:
    url = make_url(services["app"]["environment"]["DATABASE_URL"])
    postgres = services["postgres"]["environment"]

    assert url.drivername == "postgresql+asyncpg"
    assert (url.host, url.port) == ("postgres", 5432)
    assert (url.username, url.password, url.database) == (
        postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"], postgres["POSTGRES_DB"],
    )  # fmt: skip
    assert services["app"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_the_app_sends_telemetry_to_a_collector_receiver(services: dict[str, Any]) -> None:
    endpoint = urlsplit(services["app"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"])
    collector = load_yaml(ROOT / "example_service/observability/otel-collector.yaml")
    grpc = collector["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]

    assert endpoint.hostname == "otel-collector"
    assert endpoint.port == int(grpc.rsplit(":", 1)[1])


def test_the_collector_pipelines_use_only_what_it_defines() -> None:
    collector = load_yaml(ROOT / "example_service/observability/otel-collector.yaml")

    for pipeline in collector["service"]["pipelines"].values():
        assert set(pipeline["receivers"]) <= set(collector["receivers"])
        assert set(pipeline.get("processors", [])) <= set(collector["processors"])
        assert set(pipeline["exporters"]) <= set(collector["exporters"])
    assert collector["exporters"]["otlp/jaeger"]["endpoint"] == "jaeger:4317"


def test_prometheus_scrapes_the_collector_where_it_exports(services: dict[str, Any]) -> None:
    prometheus = load_yaml(ROOT / "example_service/observability/prometheus.yml")
    collector = load_yaml(ROOT / "example_service/observability/otel-collector.yaml")
    exported_port = int(collector["exporters"]["prometheus"]["endpoint"].rsplit(":", 1)[1])

    targets = [
        t
        for job in prometheus["scrape_configs"]
        for c in job["static_configs"]
        for t in c["targets"]
    ]
    assert f"otel-collector:{exported_port}" in targets
    for target in targets:
        assert target.split(":")[0] in services


def test_grafana_datasources_point_at_the_stack(services: dict[str, Any]) -> None:
    provisioning = ROOT / "example_service/observability/grafana/provisioning"
    datasources = load_yaml(provisioning / "datasources/datasources.yaml")["datasources"]

    for datasource in datasources:
        url = urlsplit(datasource["url"])
        assert url.hostname in services
        assert url.port in published_ports(services[url.hostname])


def test_the_dashboard_shows_requests_latency_database_pool_errors_replicas_outbox() -> None:
    dashboard = json.loads(
        (ROOT / "example_service/observability/grafana/dashboards/example-service.json").read_text()
    )
    provisioning = ROOT / "example_service/observability/grafana/provisioning"
    uids = {
        d["uid"] for d in load_yaml(provisioning / "datasources/datasources.yaml")["datasources"]
    }

    titles = " ".join(panel["title"].lower() for panel in dashboard["panels"])
    topics = (
        "request rate",
        "latency",
        "database operation",
        "pool",
        "errors",
        "replicas",
        "outbox",
    )
    for topic in topics:
        assert topic in titles
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] in uids


def test_the_stack_takes_no_host_port_make_run_or_make_test_uses(
    services: dict[str, Any],
) -> None:
    host_ports = {
        int(str(port).split(":")[0])
        for service in services.values()
        for port in service.get("ports", [])
        if ":" in str(port)
    }

    assert not host_ports & {8000, 5432, 3306}


def test_postgres_is_healthy_only_once_it_answers_over_tcp(services: dict[str, Any]) -> None:
    check = " ".join(services["postgres"]["healthcheck"]["test"])

    assert "pg_isready -h 127.0.0.1" in check


def test_the_service_reports_its_readiness_as_its_health(services: dict[str, Any]) -> None:
    check = " ".join(services["app"]["healthcheck"]["test"])

    assert "/health/ready" in check


def test_the_build_context_leaves_out_the_local_environment() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()

    for local in (".venv", "*.db", ".git"):
        assert local in ignored


def test_the_image_serves_on_the_published_port_after_migrating_every_database(
    services: dict[str, Any],
) -> None:
    dockerfile = (ROOT / "example_service/Dockerfile").read_text()
    command = re.search(r"^CMD (.*)$", dockerfile, re.MULTILINE)

    assert command is not None
    assert "-m fastapi_building_blocks migrate example_service/alembic.ini" in command.group(1)
    assert "DATABASES__analytics__URL" in services["app"]["environment"]
    assert "--port 8000" in command.group(1)
    assert 8000 in published_ports(services["app"])
    assert re.search(r"uvicorn==[\d.]+ alembic==[\d.]+", dockerfile)  # pinned
    for mount in services["postgres"]["volumes"]:  # init scripts the stack mounts
        source = mount.split(":")[0]
        if source.startswith("./"):
            assert (ROOT / source).exists()
    for source in re.findall(r"^COPY (\S+)", dockerfile, re.MULTILINE):
        assert (ROOT / source).exists()

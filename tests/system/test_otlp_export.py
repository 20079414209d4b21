"""The service exports traces and metrics over OTLP, configured by OTEL_* variables alone.

No collector runs here, so the receiver is a gRPC server implementing OTLP's own service
definitions (opentelemetry-proto): the exporter, the protocol and the wire are real.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from tests.backends import sqlite_url
from tests.system.service_process import free_port, running_service

ALICE = {"first_name": "Alice", "last_name": "Test", "email": "alice@test.com", "username": "alice"}


@dataclass
class Received:
    """What the receiver was sent: spans (with their resource) and metric names."""

    spans: list[dict[str, Any]] = field(default_factory=list)
    metric_names: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, condition: Callable[[], bool], seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self.lock:
                if condition():
                    return
            time.sleep(0.2)
        raise AssertionError(f"not received in {seconds}s: {self.spans=} {self.metric_names=}")


def attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: getattr(pair.value, pair.value.WhichOneof("value")) for pair in pairs}


class TraceReceiver(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, received: Received) -> None:
        self.received = received

    def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 (OTLP's name)
        with self.received.lock:
            for resource_spans in request.resource_spans:
                resource = attributes(resource_spans.resource.attributes)
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        self.received.spans.append(
                            {
                                "name": span.name,
                                "trace_id": span.trace_id.hex(),
                                "attributes": attributes(span.attributes),
                                "resource": resource,
                            }
                        )
        return trace_service_pb2.ExportTraceServiceResponse()


class MetricsReceiver(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, received: Received) -> None:
        self.received = received

    def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 (OTLP's name)
        with self.received.lock:
            for resource_metrics in request.resource_metrics:
                for scope in resource_metrics.scope_metrics:
                    self.received.metric_names.update(metric.name for metric in scope.metrics)
        return metrics_service_pb2.ExportMetricsServiceResponse()


@pytest.fixture
def receiver() -> Iterator[tuple[str, Received]]:
    received = Received()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    # The generated gRPC modules carry no type hints.
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceReceiver(received), server)  # type: ignore[no-untyped-call]
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(MetricsReceiver(received), server)  # type: ignore[no-untyped-call]
    port = free_port()
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    try:
        yield f"http://127.0.0.1:{port}", received
    finally:
        server.stop(grace=None)


def otel_environment(endpoint: str, **extra: str) -> dict[str, str]:
    return {
        "OTEL_SERVICE_NAME": "otlp-check",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_METRIC_EXPORT_INTERVAL": "500",
        **extra,
    }


def test_a_request_reaches_the_collector_as_one_trace_and_the_operation_histogram(
    receiver: tuple[str, Received], tmp_path: Path
) -> None:
    endpoint, received = receiver

    with running_service(sqlite_url(tmp_path), tmp_path, otel_environment(endpoint)) as base:
        # A unit of work: the user and a welcome post, both or neither.
        created = httpx.post(f"{base}/api/v1/users/with-welcome-post", json=ALICE, timeout=10)
        assert created.status_code == 201
        trace = {"POST /api/v1/users/with-welcome-post", "transaction", "create users",
                 "create posts"}  # fmt: skip
        received.wait_for(
            lambda: (
                trace <= {span["name"] for span in received.spans}
                and "db.client.operation.duration" in received.metric_names
            )
        )

    [create] = [span for span in received.spans if span["name"] == "create users"]
    assert create["resource"]["service.name"] == "otlp-check"
    assert create["attributes"] == create["attributes"] | {
        "db.system.name": "sqlite",
        "db.collection.name": "users",
        "db.operation.name": "create",
    }
    same_trace = {span["name"] for span in received.spans if span["trace_id"] == create["trace_id"]}
    assert trace <= same_trace
    assert not any(query_text(span) for span in received.spans)


def query_text(span: dict[str, Any]) -> str | None:
    attributes: dict[str, str] = span["attributes"]
    return attributes.get("db.query.text") or attributes.get("db.statement")


def test_statement_spans_and_their_sql_text_come_only_when_enabled(
    receiver: tuple[str, Received], tmp_path: Path
) -> None:
    endpoint, received = receiver
    environment = otel_environment(endpoint, STATEMENT_SPANS="true")

    with running_service(sqlite_url(tmp_path), tmp_path, environment) as base:
        assert httpx.post(f"{base}/api/v1/users/", json=ALICE, timeout=10).status_code == 201
        received.wait_for(  # BEGIN and the readiness ping may come in an earlier batch
            lambda: any((query_text(span) or "").startswith("INSERT") for span in received.spans)
        )

    texts = [text for span in received.spans if (text := query_text(span))]
    assert any(text.startswith("INSERT INTO users") for text in texts)
    assert not any("alice@test.com" in text for text in texts)  # placeholders, not values


def test_the_sampler_comes_from_the_environment(
    receiver: tuple[str, Received], tmp_path: Path
) -> None:
    endpoint, received = receiver
    environment = otel_environment(endpoint, OTEL_TRACES_SAMPLER="always_off")

    with running_service(sqlite_url(tmp_path), tmp_path, environment) as base:
        assert httpx.post(f"{base}/api/v1/users/", json=ALICE, timeout=10).status_code == 201
        received.wait_for(lambda: "db.client.operation.duration" in received.metric_names)
        time.sleep(1)  # five batch delays: a sampled span would have been exported by now

    assert received.spans == []

"""The SDK set up from OTEL_* variables, each case in a fresh process (the providers are
global, settable once)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SETUP = """
from opentelemetry import trace
from fastapi_building_blocks.observability import registered_hooks
from fastapi_building_blocks.observability.sdk import configure_opentelemetry
telemetry = configure_opentelemetry()
"""


def run(code: str, **environment: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return subprocess.run(
        [sys.executable, "-c", SETUP + code], env={**clean, **environment},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_disabled_means_no_sdk_and_no_hook() -> None:
    done = run("assert telemetry is None and registered_hooks() == ()", OTEL_SDK_DISABLED="true")

    assert done.returncode == 0, done.stderr


def test_without_an_endpoint_nothing_is_exported_but_the_hook_records() -> None:
    code = (
        "processors = trace.get_tracer_provider()._active_span_processor._span_processors\n"
        "assert processors == (), processors\n"
        "assert len(registered_hooks()) == 1"
    )

    assert run(code).returncode == 0


def test_the_exporter_variables_choose_the_exporters() -> None:
    code = (
        "[processor] = trace.get_tracer_provider()._active_span_processor._span_processors\n"
        "print(type(processor.span_exporter).__name__)"
    )

    console = run(code, OTEL_TRACES_EXPORTER="console", OTEL_METRICS_EXPORTER="none")
    otlp = run(code, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4317")

    assert console.stdout.strip() == "ConsoleSpanExporter", console.stderr
    assert otlp.stdout.strip() == "OTLPSpanExporter", otlp.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [("OTEL_TRACES_EXPORTER", "zipkin"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon")],
)
def test_a_value_it_cannot_honour_is_a_configuration_error(variable: str, value: str) -> None:
    done = run("", **{variable: value, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"})

    assert done.returncode != 0
    assert "ConfigurationError" in done.stderr
    assert variable in done.stderr

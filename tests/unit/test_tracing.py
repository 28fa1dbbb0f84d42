"""The tracing facade: nothing when off; attempts parented or linked; errors as codes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from exportd import tracing
from exportd.config import load_settings
from exportd.errors import ConfigError, RetryableJobError
from exportd.tracing import _otel
from tests.support import spans

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def memory() -> Iterator[InMemorySpanExporter]:
    with spans.in_memory() as exporter:
        yield exporter


def test_off_every_call_is_a_shared_no_op() -> None:
    assert not tracing.enabled()
    assert tracing.span("x") is tracing.NO_SPAN
    attempt = tracing.job_attempt(
        task="t", job_id=1, attempt=1, correlation_id=None, traceparent=None
    )
    assert attempt is tracing.NO_SPAN
    assert tracing.current_traceparent() is None
    headers: dict[str, str] = {}
    tracing.inject(headers)
    assert headers == {}
    with tracing.span("x") as span:
        span.set("k", "v")
        span.fail("code")
        assert span.traceparent is None


def _enqueued() -> str:
    with tracing.span("enqueue") as span:
        assert span.traceparent is not None
        return span.traceparent


def _attempt(number: int, traceparent: str | None) -> None:
    with tracing.job_attempt(
        task="t", job_id=7, attempt=number, correlation_id="req-1", traceparent=traceparent
    ):
        pass


def test_a_first_attempt_is_a_child_and_a_retry_a_linked_root(
    memory: InMemorySpanExporter,
) -> None:
    enqueued = _enqueued()
    _attempt(1, enqueued)
    _attempt(2, enqueued)
    _attempt(1, "00-not-a-context-01")  # unreadable: a trace of its own, no link
    enqueue, first, retry, lost = spans.of(memory.get_finished_spans())

    assert (first.parent_id, first.trace_id) == (enqueue.span_id, enqueue.trace_id)
    assert first.links == []
    assert first.attributes == {
        "exportd.job.task": "t",
        "exportd.job.id": 7,
        "exportd.job.attempt": 1,
        "exportd.correlation_id": "req-1",
    }
    assert retry.parent_id is None
    assert retry.trace_id != enqueue.trace_id
    [link] = retry.links
    assert link["context"]["span_id"].removeprefix("0x") == enqueue.span_id
    assert (lost.parent_id, lost.links) == (None, [])


def test_an_exception_is_its_code_never_its_message(memory: InMemorySpanExporter) -> None:
    with (
        pytest.raises(RetryableJobError),
        tracing.span("work"),
    ):
        raise RetryableJobError("row 42 held 'Alice Secret'", code="webhook_failed")
    with pytest.raises(KeyError), tracing.span("other"):
        raise KeyError("Alice Secret")
    coded, plain = spans.of(memory.get_finished_spans())
    assert coded.status == "ERROR"
    assert coded.attributes == {"error.type": "webhook_failed"}
    assert plain.attributes == {"error.type": "KeyError"}
    assert "Alice Secret" not in coded.text() + plain.text()  # no exception event


def test_a_context_is_carried_into_a_block_and_out_to_headers(
    memory: InMemorySpanExporter,
) -> None:
    enqueued = _enqueued()
    with tracing.attached(enqueued):
        assert tracing.current_traceparent() == enqueued
        headers: dict[str, str] = {}
        tracing.inject(headers)
    assert headers == {"traceparent": enqueued}
    assert tracing.current_traceparent() is None


def test_the_exporter_setting() -> None:
    assert type(_otel.exporter("otlp")).__name__ == "OTLPSpanExporter"
    assert isinstance(_otel.exporter("tests.unit.test_tracing:an_exporter"), SpanExporter)
    with pytest.raises(ConfigError, match="EXPORTD_OTEL_EXPORTER: cannot load"):
        _otel.exporter("tests.nowhere:exporter")
    with pytest.raises(ConfigError, match="did not return a SpanExporter"):
        _otel.exporter("tests.unit.test_tracing:not_an_exporter")
    with pytest.raises(ConfigError, match="EXPORTD_OTEL_EXPORTER"):
        load_settings(otel_exporter="http://collector:4318")


def an_exporter() -> SpanExporter:
    return InMemorySpanExporter()


def not_an_exporter() -> object:
    return object()


def test_the_first_configuration_wins(memory: InMemorySpanExporter) -> None:
    installed = tracing._tracing
    tracing.configure(load_settings(otel_enabled=True, otel_exporter="console"))
    assert tracing._tracing is installed


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": f"{ROOT / 'src'}:{ROOT}", "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_off_exportd_imports_nothing_of_opentelemetry(tmp_path: Path) -> None:
    # FastAPI (0.16x) imports the OpenTelemetry API itself: what it brings is the baseline.
    baseline = _run("""
        import sys, fastapi
        print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
    """)
    after = _run(f"""
        import sys
        import exportd.api.app, exportd.app_wiring, exportd.worker.child, exportd.cli
        from fastapi.testclient import TestClient
        from exportd.api.app import create_app
        from exportd.config import load_settings
        from exportd.storage import open_storage

        settings = load_settings(database_url="sqlite:///{tmp_path}/x.db")
        with TestClient(create_app(settings)) as client:
            assert client.get("/healthz").status_code == 200
        with open_storage("file://{tmp_path}/files").writer("a/b") as handle:
            handle.write(b"x")
        assert "exportd.tracing._otel" not in sys.modules
        print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
    """)
    assert after == baseline
    assert "opentelemetry.sdk" not in after


def test_fastapi_records_no_request_even_with_a_global_provider(tmp_path: Path) -> None:
    """FastAPI 0.16x traces requests by itself through a global provider (as installed by
    ``opentelemetry-instrument``) with the raw path: a download link's token.  exportd's
    app has that off; a bare FastAPI app shows the check would see it."""
    out = _run(f"""
        import inspect
        from fastapi import FastAPI
        from fastapi.testclient import TestClient
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from exportd.api.app import create_app
        from exportd.config import load_settings

        memory = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(memory))
        trace.set_tracer_provider(provider)
        settings = load_settings(database_url="sqlite:///{tmp_path}/x.db")
        with TestClient(create_app(settings)) as client:
            client.get("/v1/downloads/tok3n-s3cret")
            client.get("/healthz")
        print("exportd", len(memory.get_finished_spans()))
        if "telemetry" in inspect.signature(FastAPI.__init__).parameters:
            bare = FastAPI()
            bare.get("/v1/downloads/{{token}}")(lambda token: token)
            TestClient(bare).get("/v1/downloads/tok3n-s3cret")
            recorded = str([s.attributes for s in memory.get_finished_spans()])
            print("bare", "tok3n-s3cret" in recorded)
    """)
    assert "exportd 0" in out
    assert "bare" not in out or "bare True" in out

"""The default exporter speaks OTLP over HTTP to what OTEL_EXPORTER_OTLP_ENDPOINT names, as
a collector's ``otlp`` receiver expects: protobuf at ``/v1/traces``, with the headers
OTEL_EXPORTER_OTLP_HEADERS gives (a collector's API key)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from exportd.config import load_settings
from exportd.tracing._otel import from_settings


class Collector:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                collector.requests.append((self.path, headers, body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_spans_reach_a_collector_over_otlp_http(
    collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=abc123")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    tracing = from_settings(load_settings(otel_enabled=True))
    try:
        with tracing.span("exportd.queue.enqueue", {"exportd.job.task": "t"}, kind="producer"):
            pass
        assert tracing.provider.force_flush(10_000)
    finally:
        tracing.provider.shutdown()

    [(path, headers, body)] = collector.requests
    assert path == "/v1/traces"
    assert headers["content-type"] == "application/x-protobuf"
    assert headers["x-api-key"] == "abc123"
    request = ExportTraceServiceRequest.FromString(body)
    [resource_spans] = request.resource_spans
    resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert resource["service.name"] == "exportd"
    assert resource["deployment.environment"] == "test"
    [span] = resource_spans.scope_spans[0].spans
    assert span.name == "exportd.queue.enqueue"
    assert {a.key: a.value.string_value for a in span.attributes} == {"exportd.job.task": "t"}

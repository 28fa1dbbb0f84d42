"""Spans a test can read back: in memory in the test process, and as JSON lines from
real worker processes (``EXPORTD_OTEL_EXPORTER=tests.support.spans:exporter`` writes one
file per process into the folder ``EXPORTD_TEST_SPANS`` names).

Every span is kept as the OpenTelemetry SDK's own JSON (``ReadableSpan.to_json``): the
name, the ids, the kind, the status, the attributes, the events, the links and the
resource, so a test can scan all of it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from exportd import tracing

FOLDER = "EXPORTD_TEST_SPANS"


@dataclass(frozen=True)
class Span:
    """One exported span, as read back."""

    raw: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.raw["name"])

    @property
    def trace_id(self) -> str:
        return str(self.raw["context"]["trace_id"]).removeprefix("0x")

    @property
    def span_id(self) -> str:
        return str(self.raw["context"]["span_id"]).removeprefix("0x")

    @property
    def parent_id(self) -> str | None:
        parent = self.raw.get("parent_id")
        return str(parent).removeprefix("0x") if parent else None

    @property
    def kind(self) -> str:
        return str(self.raw["kind"]).removeprefix("SpanKind.")

    @property
    def attributes(self) -> dict[str, Any]:
        return dict(self.raw.get("attributes") or {})

    @property
    def status(self) -> str:
        return str(self.raw["status"]["status_code"])

    @property
    def links(self) -> list[dict[str, Any]]:
        return list(self.raw.get("links") or [])

    def text(self) -> str:
        """Everything the span says, for scanning."""
        return json.dumps(self.raw)


def of(spans: Sequence[ReadableSpan]) -> list[Span]:
    return [Span(json.loads(span.to_json(indent=None))) for span in spans]


@contextmanager
def in_memory() -> Iterator[InMemorySpanExporter]:
    """Trace this process into memory for a block."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracing.install(provider)
    try:
        yield memory
    finally:
        tracing.uninstall()
        provider.shutdown()


class JsonLinesExporter(SpanExporter):
    def __init__(self, path: Path) -> None:
        self.path = path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self.path.open("a") as handle:
            for span in spans:
                handle.write(span.to_json(indent=None) + "\n")
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def exporter() -> SpanExporter:
    """The worker processes' exporter: a file per process (no interleaved lines)."""
    return JsonLinesExporter(Path(os.environ[FOLDER]) / f"spans-{os.getpid()}.jsonl")


def read(folder: Path) -> list[Span]:
    """What the worker processes have exported so far."""
    return [
        Span(json.loads(line))
        for path in sorted(folder.glob("spans-*.jsonl"))
        for line in path.read_text().splitlines()
        if line.strip()
    ]

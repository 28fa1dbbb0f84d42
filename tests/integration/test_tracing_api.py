"""Tracing through the API in-process (EXPORTD_OTEL_ENABLED, an in-memory exporter): the
request's span continues the caller's trace, the enqueue is its child, the job keeps the
enqueue's context, and no span holds a token, a path with a token, or a query."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import select

from exportd.config import Settings
from exportd.db import Database
from exportd.db.tables import jobs
from exportd.errors import StorageError
from tests.support import spans
from tests.support.artifacts import CONTENT, World, completed_export, world_for

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


@pytest.fixture
def traced(
    settings: Settings, db: Database, tmp_path: Path
) -> Iterator[tuple[World, InMemorySpanExporter]]:
    with spans.in_memory() as memory, world_for(settings, db, tmp_path, otel_enabled=True) as world:
        yield world, memory


def test_a_request_continues_the_callers_trace_and_the_job_keeps_the_enqueue(
    traced: tuple[World, InMemorySpanExporter],
) -> None:
    world, memory = traced
    created = world.api.create(
        "alice", headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01", "baggage": "a=b"}
    )
    assert created.status_code == 202, created.text

    recorded = spans.of(memory.get_finished_spans())
    [request] = [s for s in recorded if s.kind == "SERVER"]
    assert request.name == "POST /v1/exports"
    assert (request.trace_id, request.parent_id) == (CALLER_TRACE, CALLER_SPAN)
    assert request.attributes == {
        "http.request.method": "POST",
        "http.route": "/v1/exports",
        "url.scheme": "http",
        "http.response.status_code": 202,
    }
    [enqueue] = [s for s in recorded if s.name == "exportd.queue.enqueue"]
    assert (enqueue.kind, enqueue.trace_id, enqueue.parent_id) == (
        "PRODUCER",
        CALLER_TRACE,
        request.span_id,
    )
    assert enqueue.attributes["exportd.job.task"] == "exportd.export"
    with world.db.read() as conn:
        stored = conn.execute(
            select(jobs.c.traceparent).where(jobs.c.id == enqueue.attributes["exportd.job.id"])
        ).scalar_one()
    # What the job's first attempt will be a child of.
    assert stored.split("-")[:3] == ["00", CALLER_TRACE, enqueue.span_id]
    assert "a=b" not in "".join(s.text() for s in recorded)  # baggage is not taken in


def test_routes_name_the_span_and_a_download_token_is_in_none(
    traced: tuple[World, InMemorySpanExporter],
) -> None:
    world, memory = traced
    export_id = completed_export(world)
    headers = world.api.as_user("alice")
    url = world.api.client.post(f"/v1/exports/{export_id}/download-token", headers=headers).json()[
        "url"
    ]
    token = urlsplit(url).path.rsplit("/", 1)[1]
    memory.clear()

    assert world.api.client.get(f"/v1/exports/{export_id}", headers=headers).status_code == 200
    downloaded = world.api.client.get(f"{url}?why={token}")
    assert (downloaded.status_code, downloaded.content) == (200, CONTENT)
    assert world.api.client.get(f"/v1/nothing/{token}").status_code == 404

    recorded = spans.of(memory.get_finished_spans())
    servers = [s for s in recorded if s.kind == "SERVER"]
    assert [s.name for s in servers] == [
        "GET /v1/exports/{export_id}",
        "GET /v1/downloads/{token}",
        "GET",  # no route matched: the method alone, never the path
    ]
    assert [s.attributes.get("http.response.status_code") for s in servers] == [200, 200, 404]
    assert servers[1].attributes["http.route"] == "/v1/downloads/{token}"
    everything = "".join(s.text() for s in recorded)
    assert token not in everything
    assert headers["Authorization"].split()[1] not in everything
    assert world.api.settings.secret_key.get_secret_value() not in everything


def test_a_server_error_marks_the_span_failed(
    traced: tuple[World, InMemorySpanExporter], monkeypatch: pytest.MonkeyPatch
) -> None:
    world, memory = traced
    app = world.api.client.app
    monkeypatch.setattr(app.state.reports, "export_ops", _boom)  # type: ignore[attr-defined]
    response = world.api.client.get(
        "/v1/ops/export-ops", headers=world.api.as_user("root", admin=True)
    )
    assert response.status_code == 503

    [request] = [s for s in spans.of(memory.get_finished_spans()) if s.kind == "SERVER"]
    assert request.status == "ERROR"
    assert request.attributes["error.type"] == "503"
    assert "the secret detail" not in request.text()  # a message is never recorded


def _boom(*args: object, **kwargs: object) -> None:
    raise StorageError("the secret detail")

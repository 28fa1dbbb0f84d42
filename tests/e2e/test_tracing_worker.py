"""Tracing end to end: the API in this process (in-memory spans), a real worker whose
supervisor and children export their spans to files, a real webhook receiver and a real
SMTP server.  One export fails its first attempt (a retryable error quoting a row) and
completes on the second, then emails and posts a webhook.

What must hold: the first attempt is a child of the request's enqueue; the retry is a
trace of its own, linked to that enqueue; the deliveries the settle enqueues join the
retry's trace; the receiver gets the webhook span's ``traceparent``; and no span, link,
event or resource anywhere holds a token, a secret, the email address or a row value.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from exportd.api.app import create_app
from exportd.config import Settings
from exportd.db.tables import deliveries
from exportd.sources import SourceRegistry
from tests.support import spans
from tests.support.api import Api
from tests.support.databases import migrated_sqlite
from tests.support.flaky_source import ROW_VALUE, flaky_sources
from tests.support.hooks import Receiver
from tests.support.mail import SmtpServer
from tests.support.workers import Harness

pytestmark = pytest.mark.slow

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
EMAIL = "bob.traced@example.com"
CALLER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_an_export_retried_then_delivered_is_traced_across_processes(
    tmp_path: Path,
    receiver: Receiver,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = tmp_path / "spans"
    folder.mkdir()
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")  # the worker exports within 50 ms
    harness = Harness(migrated_sqlite(tmp_path / "exportd.db"), tmp_path)
    settings = harness.settings.model_copy(
        update={
            "storage_url": f"file://{tmp_path / 'exports'}",
            "webhook_allow_private": True,
            "otel_enabled": True,
        }
    )
    worker = harness.start_worker(
        source_modules='["tests.support.flaky_source:flaky_sources"]',
        storage_url=settings.storage_url,
        public_url="http://testserver",
        webhook_secret=SECRET,
        webhook_allow_private="true",
        smtp_url=smtp_server.url,
        otel_enabled="true",
        otel_exporter="tests.support.spans:exporter",
        test_spans=str(folder),
    )
    try:
        with (
            spans.in_memory() as memory,
            TestClient(_app(harness, settings, smtp_server)) as client,
        ):
            api = Api(client, settings)
            token = api.token("bob", plan="pro", email=EMAIL)
            created = client.post(
                "/v1/exports",
                json={
                    "source": "flaky_rows",
                    "format": "csv",
                    "params": {"folder": str(tmp_path)},
                    "notify": {"email": EMAIL, "webhook_url": receiver.url},
                },
                headers={"Authorization": f"Bearer {token}", "traceparent": CALLER},
            )
            assert created.status_code == 202, created.text
            export_id = created.json()["id"]
            _wait(lambda: _all_sent(harness, export_id), "both deliveries sent", worker)
            api_spans = spans.of(memory.get_finished_spans())
        [webhook] = receiver.wait(1)
        [message] = smtp_server.inbox.wait(1)
        _wait(lambda: _has(spans.read(folder), "exportd.email.send"), "the worker's spans", worker)
    finally:
        harness.close()  # stops the worker: its processes flush what they still hold
    worker_spans = spans.read(folder)
    every = api_spans + worker_spans
    by_id = {s.span_id: s for s in every}

    # The request, in the caller's trace; its enqueue; the job's first attempt under it.
    [enqueue] = [s for s in api_spans if s.name == "exportd.queue.enqueue"]
    assert by_id[enqueue.parent_id].name == "POST /v1/exports"  # type: ignore[index]
    assert enqueue.trace_id == CALLER.split("-")[1]
    attempts = sorted(
        (s for s in worker_spans if s.attributes.get("exportd.job.task") == "exportd.export"),
        key=lambda s: s.attributes["exportd.job.attempt"],
    )
    first, retry = attempts
    assert (first.kind, first.parent_id, first.trace_id) == (
        "CONSUMER",
        enqueue.span_id,
        enqueue.trace_id,
    )
    assert first.status == "ERROR"
    assert first.attributes["error.type"] == "transient_error"
    assert first.attributes["exportd.export.id"] == export_id
    assert _children(worker_spans, first, "exportd.storage.write")[0].status == "ERROR"

    # The retry: a root of its own trace, linked (not parented) to the enqueue.
    assert retry.parent_id is None
    assert retry.trace_id != first.trace_id
    [link] = retry.links
    assert link["context"]["trace_id"].removeprefix("0x") == enqueue.trace_id
    assert link["context"]["span_id"].removeprefix("0x") == enqueue.span_id
    assert link["attributes"] == {"exportd.link": "enqueued"}
    [write] = _children(worker_spans, retry, "exportd.storage.write")
    assert write.status == "UNSET"
    assert write.attributes["exportd.storage.bytes"] > 0

    # The settle (in the supervisor) enqueues the deliveries inside the retry's trace; each
    # delivery's attempt is a child of its enqueue.
    settled = _children(worker_spans, retry, "exportd.queue.enqueue")
    assert sorted(s.attributes["exportd.job.task"] for s in settled) == ["exportd.deliver"] * 2
    sends = {}
    for enqueued in settled:
        [delivery] = _children(worker_spans, enqueued, "exportd.job.attempt")
        channel = delivery.attributes["exportd.delivery.channel"]
        [sends[channel]] = [
            s for s in worker_spans if s.parent_id == delivery.span_id and s.kind == "CLIENT"
        ]
        assert delivery.trace_id == retry.trace_id
    assert sends["email"].name == "exportd.email.send"
    post = sends["webhook"]
    assert post.name == "exportd.webhook.post"
    assert post.attributes["server.address"] == "127.0.0.1"
    assert post.attributes["http.response.status_code"] == 204
    # The receiver got the webhook span's own context (sampled; W3C level 2 may also set
    # the random-trace-id flag).
    version, trace_id, parent_id, flags = webhook.headers["traceparent"].split("-")
    assert (version, trace_id, parent_id) == ("00", post.trace_id, post.span_id)
    assert int(flags, 16) & 1
    assert "tracestate" not in webhook.headers
    assert "baggage" not in webhook.headers

    # Nothing secret anywhere: names, attributes, links, events, statuses, resources.
    download_token = urlsplit(orjson.loads(webhook.body)["data"]["links"]["download"]).path
    secrets = {
        "the signing secret": SECRET,
        "its key": SECRET.removeprefix("whsec_"),
        "the webhook signature": webhook.headers["webhook-signature"].removeprefix("v1,"),
        "the download token": download_token.rsplit("/", 1)[1],
        "the user's token": token,
        "the service key": settings.secret_key.get_secret_value(),
        "the email address": EMAIL,
        "a row value": ROW_VALUE,
        "the webhook's path": "/hooks/exports",
    }
    assert message["To"] == EMAIL
    text = "\n".join(s.text() for s in every)
    leaked = [what for what, value in secrets.items() if value in text]
    assert leaked == [], f"found in spans: {leaked}"
    assert len(every) >= 12


def _children(all_spans: list[spans.Span], parent: spans.Span, name: str) -> list[spans.Span]:
    return [s for s in all_spans if s.parent_id == parent.span_id and s.name == name]


def _has(all_spans: list[spans.Span], name: str) -> bool:
    return any(s.name == name for s in all_spans)


def _all_sent(harness: Harness, export_id: str) -> bool:
    with harness.db.read() as conn:
        rows = conn.execute(
            select(deliveries.c.status).where(deliveries.c.export_id == export_id)
        ).all()
    return len(rows) == 2 and all(row.status == "sent" for row in rows)


def _wait(done: Callable[[], bool], what: str, worker: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(0.1)
    log = worker.log_path.read_text()  # type: ignore[attr-defined]
    raise AssertionError(f"never: {what}\n{log}")


def _app(harness: Harness, settings: Settings, smtp_server: SmtpServer) -> FastAPI:
    """The API (made once this process traces into memory: it would configure OTLP)."""
    configured = settings.model_copy(update={"smtp_url": smtp_server.url})
    return create_app(configured, db=harness.db, sources=SourceRegistry(flaky_sources()))

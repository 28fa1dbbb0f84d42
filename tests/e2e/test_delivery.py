"""Email and webhooks end to end: a real worker, a real SMTP server (aiosmtpd) and a real
HTTP receiver on loopback; the emailed link downloads the file through the real app."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
import standardwebhooks
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from exportd.api.app import create_app
from exportd.auth.principal import Principal
from exportd.config import Settings
from exportd.db.tables import deliveries
from exportd.demo.sources import demo_sources
from exportd.demo.tables import create_demo_tables, seed_trades
from exportd.exports.models import ExportRequest
from exportd.exports.plans import plan_for, save_plan
from exportd.exports.service import ExportService
from exportd.sources import SourceRegistry
from tests.support.api import Api
from tests.support.hooks import Receiver
from tests.support.mail import SmtpServer, free_port
from tests.support.workers import Harness

pytestmark = pytest.mark.slow

BOB = Principal("bob", "pro", email="bob@example.com")
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@dataclass
class World:
    harness: Harness
    settings: Settings
    service: ExportService
    api: Api

    def start_worker(self, **env: str) -> None:
        if "smtp_url" in env:
            # The API side is configured as the worker is: it creates exports that email
            # only when an SMTP server is configured (422 notify_email_unavailable if not).
            self.settings = self.settings.model_copy(
                update={"smtp_url": SecretStr(env["smtp_url"])}
            )
            self.service.settings = self.settings
        self.harness.start_worker(
            source_modules='["exportd.demo.sources:demo_sources"]',
            storage_url=self.settings.storage_url,
            public_url="http://testserver",
            webhook_secret=SECRET,
            **env,
        )

    def export(self, principal: Principal = BOB, **notify: str) -> str:
        request = ExportRequest(source="trades", format="csv", params={}, notify=notify)
        view, _ = self.service.create(principal, request)
        return str(view.id)

    def deliveries(
        self, export_id: str, *, timeout: float = 60, until: str = "pending"
    ) -> list[Any]:
        """The export's deliveries once none of them is ``until`` any more."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.harness.db.read() as conn:
                rows = conn.execute(
                    select(deliveries).where(deliveries.c.export_id == export_id)
                ).all()
            if rows and all(row.status != until for row in rows):
                return rows
            time.sleep(0.1)
        logs = "\n".join(w.log_path.read_text() for w in self.harness.workers)
        raise AssertionError(f"deliveries of {export_id} still {until}\n{logs}")


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    harness = Harness(database_url, tmp_path)
    with harness.db.write() as conn:
        create_demo_tables(conn)
        seed_trades(conn, "bob", 200)
    settings = harness.settings.model_copy(
        update={
            "storage_url": f"file://{tmp_path / 'exports'}",
            "webhook_allow_private": True,  # the API side: the receiver is on loopback
            "delivery_retry_cooldown_s": 0,
        }
    )
    sources = SourceRegistry(demo_sources())
    service = ExportService(db=harness.db, store=harness.store, sources=sources, settings=settings)
    app = create_app(settings, db=harness.db, sources=sources)
    with TestClient(app) as client:
        yield World(harness, settings, service, Api(client, settings))
    harness.close()


def test_the_emailed_link_survives_a_mail_scanner_and_downloads_once(
    world: World, smtp_server: SmtpServer
) -> None:
    world.start_worker(smtp_url=smtp_server.url)
    export_id = world.export(email="bob@example.com")

    [delivery] = world.deliveries(export_id)
    assert (delivery.channel, delivery.status, delivery.attempts) == ("email", "sent", 1)
    [message] = smtp_server.inbox.wait()
    assert message["To"] == "bob@example.com"
    assert message["Subject"] == "Your trades export (csv) is ready"
    # What mail systems expect: a date (RFC 5322), an id on a real domain, no auto-replies.
    sent_at = parsedate_to_datetime(message["Date"])
    assert abs((datetime.now(UTC) - sent_at).total_seconds()) < 120
    assert message["Message-ID"] == f"<{delivery.id}@testserver>"
    assert message["Auto-Submitted"] == "auto-generated"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "200 rows" in text
    found = re.search(r"http://testserver(/exports/downloads/\S+)", text)
    assert found is not None
    link = found.group(1)
    page = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert f'<a href="http://testserver{link}">' in page
    assert "200 rows" in page

    # A mail scanner (Safe Links and the like) opens every link first: GET and HEAD.
    client = world.api.client
    scanner = {"User-Agent": "Mozilla/5.0 (compatible; link scanner)"}
    assert client.head(link, headers=scanner).status_code == 200
    scanned = client.get(link, headers=scanner)
    assert scanned.status_code == 200
    assert "Download</button>" in scanned.text
    # Then the user: the same page, and its button (a POST from the page itself).
    assert client.get(link).status_code == 200
    button = {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"}
    first = client.post(link, headers=button)
    assert first.status_code == 200
    assert first.text.count("\n") == 201  # the header and every row
    again = client.post(link, headers=button)
    assert again.status_code == 410
    assert "(download_token_used)" in again.text

    listed = world.api.client.get(
        f"/v1/exports/{export_id}/deliveries", headers=world.api.as_user("bob", plan="pro")
    )
    assert [(d["channel"], d["status"], d["target"]) for d in listed.json()] == [
        ("email", "sent", "bob@example.com")
    ]
    hidden = world.api.client.get(
        f"/v1/exports/{export_id}/deliveries", headers=world.api.as_user("alice")
    )
    assert hidden.status_code == 404


def test_small_files_are_attached(world: World, smtp_server: SmtpServer) -> None:
    world.start_worker(smtp_url=smtp_server.url, email_attach_max_bytes="1000000")
    world.deliveries(world.export(email="bob@example.com"))
    [message] = smtp_server.inbox.wait()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename().endswith(".csv")  # type: ignore[union-attr]
    assert attachment.get_payload(decode=True).count(b"\n") == 201  # type: ignore[union-attr]


def test_smtp_down_dead_letters_then_a_retry_delivers(world: World) -> None:
    port = free_port()  # nothing listens there yet
    world.start_worker(smtp_url=f"smtp://127.0.0.1:{port}", delivery_attempts="2")
    export_id = world.export(email="bob@example.com")

    [dead] = world.deliveries(export_id)
    assert (dead.status, dead.attempts, dead.error["code"]) == ("failed", 2, "smtp_unavailable")
    listed = world.api.client.get("/v1/deliveries/failed", headers=world.api.as_user("bob"))
    assert [d["id"] for d in listed.json()] == [dead.id]
    others = world.api.client.get("/v1/deliveries/failed", headers=world.api.as_user("alice"))
    assert others.json() == []
    stranger = world.api.client.post(
        f"/v1/deliveries/{dead.id}/retry", headers=world.api.as_user("alice")
    )
    assert (stranger.status_code, stranger.json()["code"]) == (404, "delivery_not_found")

    server = SmtpServer(port).start()
    try:
        retried = world.api.client.post(
            f"/v1/deliveries/{dead.id}/retry", headers=world.api.as_user("bob")
        )
        assert retried.status_code == 202, retried.text
        assert retried.json()["status"] == "pending"
        [sent] = world.deliveries(export_id)
        assert sent.status == "sent"
        assert server.inbox.wait()[0]["To"] == "bob@example.com"
    finally:
        server.stop()
    again = world.api.client.post(
        f"/v1/deliveries/{dead.id}/retry", headers=world.api.as_user("bob")
    )
    assert (again.status_code, again.json()["code"]) == (409, "delivery_not_failed")


def _verified(received: Any) -> dict[str, Any]:
    # Checked as a receiver checks it: with the Standard Webhooks library.
    payload = standardwebhooks.Webhook(SECRET).verify(received.body, dict(received.headers))
    return dict(payload)


def test_webhooks_are_signed_on_success_and_on_failure(world: World, receiver: Receiver) -> None:
    world.start_worker(webhook_allow_private="true")
    with world.harness.db.write() as conn:
        save_plan(conn, dataclasses.replace(plan_for(conn, "pro"), name="tiny", max_rows=10))

    ok = world.export(webhook_url=receiver.url)
    [sent] = world.deliveries(ok)
    assert sent.status == "sent"
    [hook] = receiver.wait()
    assert hook.path == "/hooks/exports"
    body = _verified(hook)
    assert body["type"] == "export.completed"
    assert body["data"]["export_id"] == ok
    assert body["data"]["result"]["row_count"] == 200
    assert body["data"]["links"]["download"].startswith("http://testserver/v1/downloads/")

    failing = world.export(Principal("bob", "tiny"), webhook_url=receiver.url)
    world.deliveries(failing)
    body = _verified(receiver.wait(2)[1])
    assert body["type"] == "export.failed"
    assert body["data"]["error"]["code"] == "row_limit_exceeded"
    assert "download" not in body["data"]["links"]


def test_a_receiver_error_is_retried_and_then_dead(world: World, receiver: Receiver) -> None:
    receiver.answer = 503
    world.start_worker(webhook_allow_private="true", delivery_attempts="3")
    [dead] = world.deliveries(world.export(webhook_url=receiver.url))
    assert (dead.status, dead.attempts, dead.error["code"]) == ("failed", 3, "webhook_failed")
    hooks = receiver.wait(3)
    assert len({h.headers["webhook-id"] for h in hooks}) == 1  # one id: receivers dedupe


def test_a_private_address_is_refused_without_the_allowance(
    world: World, receiver: Receiver
) -> None:
    world.start_worker(delivery_attempts="3")  # the worker does not allow private addresses
    [refused] = world.deliveries(world.export(webhook_url=receiver.url))
    assert (refused.status, refused.attempts) == ("failed", 1)  # terminal: no retries
    assert refused.error["code"] == "webhook_address_refused"
    assert receiver.received == []

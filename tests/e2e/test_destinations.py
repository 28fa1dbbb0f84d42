"""Destinations through real worker processes: an export delivered to the customer's S3
server and to an SFTP server by ``exportd worker``, a dead letter (a host key that is
not the pinned one) sent again once the customer fixes it, and no secret in the logs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from exportd.api.app import create_app
from exportd.demo.sources import demo_sources
from exportd.demo.tables import create_demo_tables, seed_trades
from exportd.sources import SourceRegistry
from tests.support.api import Api
from tests.support.customer_s3 import CustomerS3
from tests.support.sftp import PASSWORD, SftpServer, new_key, public_line
from tests.support.workers import Harness

pytestmark = pytest.mark.slow


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[tuple[Harness, Api]]:
    harness = Harness(database_url, tmp_path)
    with harness.db.write() as conn:
        create_demo_tables(conn)
        seed_trades(conn, "bob", 300)
    storage_url = f"file://{tmp_path / 'exports'}"
    settings = harness.settings.model_copy(
        update={
            "storage_url": storage_url,
            "destination_allow_private": True,  # the customer's servers are on loopback
            "delivery_retry_cooldown_s": 0,
        }
    )
    harness.start_worker(
        source_modules='["exportd.demo.sources:demo_sources"]',
        storage_url=storage_url,
        destination_allow_private="true",
        destination_timeout_s="10",
    )
    app = create_app(settings, db=harness.db, sources=SourceRegistry(demo_sources()))
    with TestClient(app) as client:
        yield harness, Api(client, settings)
    harness.close()


def _wait(api: Api, export_id: str, headers: dict[str, str], done: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        export = api.client.get(f"/v1/exports/{export_id}", headers=headers).json()
        if done(export):
            return dict(export)
        time.sleep(0.1)
    raise AssertionError(f"never got there: {export}")


def _settled(export: dict[str, Any]) -> bool:
    return export["status"] == "completed" and all(
        d["status"] != "pending" for d in export["destinations"]
    )


def test_worker_processes_deliver_to_both_kinds_and_a_dead_letter_goes_again(
    served: tuple[Harness, Api], customer_s3: CustomerS3, sftp_server: SftpServer
) -> None:
    harness, api = served
    bob = api.as_user("bob", plan="pro")
    bucket = customer_s3.new_bucket()

    def destination(kind: str, name: str, config: dict[str, Any], secret: dict[str, Any]) -> str:
        body = {"kind": kind, "name": name, "config": config, "secret": secret}
        answer = api.client.post("/v1/destinations", json=body, headers=bob)
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    to_s3 = destination("s3", "bucket", customer_s3.config(bucket), customer_s3.secret())
    to_sftp = destination(
        "sftp",
        "server",
        sftp_server.config(host_key=public_line(new_key())),  # not the server's key
        {"password": PASSWORD},
    )
    body = {"source": "trades", "format": "csv", "params": {}, "destinations": [to_s3, to_sftp]}
    created = api.client.post("/v1/exports", json=body, headers=bob)
    assert created.status_code == 202, created.text
    export_id = created.json()["id"]

    export = _wait(api, export_id, bob, _settled)
    shown = {d["id"]: d for d in export["destinations"]}
    assert shown[to_s3]["status"] == "sent"
    key = shown[to_s3]["remote_key"]
    assert key == f"trades/{export['created_at'][:10]}/{export_id}.csv"
    downloaded = api.client.get(f"/v1/exports/{export_id}/download", headers=bob).content
    assert customer_s3.objects(bucket) == {key: downloaded}
    assert downloaded.count(b"\n") == 301  # the header and every row
    dead = shown[to_sftp]
    assert (dead["status"], dead["error"]["code"]) == ("failed", "destination_host_key_mismatch")
    assert sftp_server.host_key.get_fingerprint() in dead["error"]["message"]
    assert sftp_server.files() == {}

    # The customer pins the right key; an admin sends the dead letter again.
    fixed = {"config": {"host_key": sftp_server.host_key_line}}
    assert api.client.patch(f"/v1/destinations/{to_sftp}", json=fixed, headers=bob).is_success
    admin = api.as_user("root", admin=True)
    retried = api.client.post(f"/v1/deliveries/{dead['delivery_id']}/retry", headers=admin)
    assert retried.status_code == 202, retried.text
    export = _wait(
        api, export_id, bob, lambda e: {d["status"] for d in e["destinations"]} == {"sent"}
    )
    path = {d["id"]: d for d in export["destinations"]}[to_sftp]["remote_key"]
    assert sftp_server.files() == {path: downloaded}
    # The worker opened both secrets and logged neither (nor any line of the file).
    logs = "\n".join(w.log_path.read_text() for w in harness.workers)
    assert "destination_sent" in logs
    for secret in (PASSWORD, customer_s3.secret_access_key, downloaded.splitlines()[1].decode()):
        assert secret not in logs

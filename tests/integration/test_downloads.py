"""Downloads and one-time links through the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from exportd.api.app import create_app
from exportd.auth.principal import Principal
from exportd.clock import ManualClock
from exportd.config import Settings
from exportd.db import Database
from exportd.db.tables import exports
from exportd.exports.models import ExportRequest
from exportd.exports.task import record_outcome
from exportd.queue.models import Claimed, Outcome
from exportd.storage.local import LocalStorage
from tests.support.api import Api
from tests.support.sources import fake_sources

CONTENT = "opened,symbol\n2026-01-01,ÅAPL\n".encode()


@dataclass
class World:
    api: Api
    clock: ManualClock
    db: Database
    storage: LocalStorage


@pytest.fixture
def world(settings: Settings, db: Database, tmp_path: Path) -> Iterator[World]:
    config = settings.model_copy(
        update={"storage_url": f"file://{tmp_path / 'files'}", "download_token_ttl_s": 60}
    )
    # The settle hook (a worker's) stamps expiry with the real clock: start from now.
    clock = ManualClock(datetime.now(UTC))
    app = create_app(config, db=db, sources=fake_sources(), clock=clock)
    with TestClient(app) as client:
        yield World(Api(client, config), clock, db, LocalStorage(tmp_path / "files"))


def completed_export(world: World, owner: str = "alice", filename: str = "trades-ü.csv") -> str:
    service = world.api.client.app.state.exports  # type: ignore[attr-defined]
    view, _ = service.create(
        Principal(owner, "free"), ExportRequest(source="trades", format="csv", params={})
    )
    with world.db.write() as conn:
        [job] = service.store.claim(conn, worker_id="w", queues=["default"], limit=1)
    key = f"{owner}/{view.id}/1/{filename}"
    with world.storage.writer(key) as handle:
        handle.write(CONTENT)
    result = {
        "key": key,
        "filename": filename,
        "content_type": "text/csv; charset=utf-8",
        "size": len(CONTENT),
        "sha256": "x",
        "row_count": 1,
    }
    with world.db.write() as conn:
        settled = service.store.settle(
            conn, Outcome(claim=Claimed(job.id, job.attempt), result=result)
        )
        record_outcome(conn, settled)
    return str(view.id)


def test_owner_downloads_with_range_and_a_safe_filename(world: World) -> None:
    export_id = completed_export(world)
    headers = world.api.as_user("alice")
    response = world.api.client.get(f"/v1/exports/{export_id}/download", headers=headers)
    assert response.status_code == 200
    assert response.content == CONTENT
    assert "filename*=utf-8''trades-%C3%BC.csv" in response.headers["content-disposition"]
    assert response.headers["content-type"].startswith("text/csv")
    part = world.api.client.get(
        f"/v1/exports/{export_id}/download", headers={**headers, "Range": "bytes=0-5"}
    )
    assert (part.status_code, part.content) == (206, CONTENT[:6])
    with world.db.read() as conn:
        count = conn.execute(select(exports.c.download_count).where(exports.c.id == export_id))
        assert count.scalar() == 2
    other = world.api.client.get(
        f"/v1/exports/{export_id}/download", headers=world.api.as_user("mallory")
    )
    assert (other.status_code, other.json()["code"]) == (404, "export_not_found")


def test_nothing_to_download_before_completion(world: World) -> None:
    export_id = world.api.create("alice").json()["id"]
    response = world.api.client.get(
        f"/v1/exports/{export_id}/download", headers=world.api.as_user("alice")
    )
    assert (response.status_code, response.json()["code"]) == (409, "export_not_ready")


def link(world: World, export_id: str, user: str = "alice") -> str:
    response = world.api.client.post(
        f"/v1/exports/{export_id}/download-token", headers=world.api.as_user(user)
    )
    assert response.status_code == 201, response.text
    return str(response.json()["url"])


def test_a_link_works_once(world: World) -> None:
    url = link(world, completed_export(world))
    first = world.api.client.get(url)
    assert (first.status_code, first.content) == (200, CONTENT)
    again = world.api.client.get(url)
    assert (again.status_code, again.json()["code"]) == (410, "download_token_used")


def test_tampered_and_forged_links_are_refused(world: World) -> None:
    url = link(world, completed_export(world))
    token_id, expiry, signature = url.rsplit("/", 1)[1].split(".")
    tampered = f"/v1/downloads/{token_id}.{int(expiry) + 3600}.{signature}"
    forged = f"/v1/downloads/{token_id}.{expiry}.{'A' * len(signature)}"
    for bad in (tampered, forged, "/v1/downloads/not-a-token"):
        response = world.api.client.get(bad)
        assert (response.status_code, response.json()["code"]) == (403, "download_token_invalid")
    assert world.api.client.get(url).status_code == 200  # the real one still works


def test_an_expired_link_is_refused(world: World) -> None:
    url = link(world, completed_export(world))
    world.clock.advance(61)
    response = world.api.client.get(url)
    assert (response.status_code, response.json()["code"]) == (410, "download_token_expired")


def test_another_users_export_gets_no_link(world: World) -> None:
    export_id = completed_export(world)
    response = world.api.client.post(
        f"/v1/exports/{export_id}/download-token", headers=world.api.as_user("mallory")
    )
    assert (response.status_code, response.json()["code"]) == (404, "export_not_found")


def test_an_expired_export_is_gone(world: World) -> None:
    export_id = completed_export(world)
    url = link(world, export_id)
    world.clock.advance(7 * 86_400 + 5)  # past the free plan's 7-day retention
    headers = world.api.as_user("alice")
    direct = world.api.client.get(f"/v1/exports/{export_id}/download", headers=headers)
    assert (direct.status_code, direct.json()["code"]) == (410, "export_expired")
    assert (
        world.api.client.get(f"/v1/exports/{export_id}", headers=headers).json()["status"]
        == "expired"
    )
    assert world.api.client.get(url).json()["code"] == "download_token_expired"

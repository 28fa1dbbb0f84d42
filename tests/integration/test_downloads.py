"""Downloads and one-time links through the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from exportd.config import Settings
from exportd.db import Database
from exportd.db.tables import exports
from tests.support.artifacts import CONTENT, World, completed_export, world_for


@pytest.fixture
def world(settings: Settings, db: Database, tmp_path: Path) -> Iterator[World]:
    with world_for(settings, db, tmp_path) as w:
        yield w


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
    export_id = completed_export(world)
    url = link(world, export_id)
    first = world.api.client.get(url)
    assert (first.status_code, first.content) == (200, CONTENT)
    again = world.api.client.get(url)
    assert (again.status_code, again.json()["code"]) == (410, "download_token_used")


@pytest.mark.parametrize(
    ("range_header", "status", "code"),
    [("bytes=abc", 400, "range_invalid"), ("bytes=100000-", 416, "range_not_satisfiable")],
)
def test_a_refused_range_does_not_spend_the_link(
    world: World, range_header: str, status: int, code: str
) -> None:
    export_id = completed_export(world)
    url = link(world, export_id)
    refused = world.api.client.get(url, headers={"Range": range_header})
    assert (refused.status_code, refused.json()["code"]) == (status, code)
    if status == 416:
        assert refused.headers["content-range"] == f"bytes */{len(CONTENT)}"
    part = world.api.client.get(url, headers={"Range": "bytes=0-3"})
    assert (part.status_code, part.content) == (206, CONTENT[:4])
    again = world.api.client.get(url)
    assert (again.status_code, again.json()["code"]) == (410, "download_token_used")


def test_the_export_shows_how_often_and_when_it_was_last_downloaded(world: World) -> None:
    export_id = completed_export(world)
    headers = world.api.as_user("alice")
    before = world.api.client.get(f"/v1/exports/{export_id}", headers=headers).json()
    assert (before["download_count"], before["last_downloaded_at"]) == (0, None)
    assert world.api.client.get(link(world, export_id)).status_code == 200
    world.clock.advance(60)
    owner = world.api.client.get(f"/v1/exports/{export_id}/download", headers=headers)
    assert owner.status_code == 200
    after = world.api.client.get(f"/v1/exports/{export_id}", headers=headers).json()
    assert after["download_count"] == 2
    assert datetime.fromisoformat(after["last_downloaded_at"]) == world.clock.now()
    listed = world.api.client.get("/v1/exports", headers=headers).json()["items"]
    assert [(e["id"], e["download_count"]) for e in listed] == [(export_id, 2)]


def test_tampered_and_forged_links_are_refused(world: World) -> None:
    url = link(world, completed_export(world))
    token_id, expiry, signature = url.rsplit("/", 1)[1].split(".")
    tampered = f"/v1/downloads/{token_id}.{int(expiry) + 3600}.{signature}"
    forged = f"/v1/downloads/{token_id}.{expiry}.{'A' * len(signature)}"
    for bad in (tampered, forged, "/v1/downloads/not-a-token"):
        response = world.api.client.get(bad)
        assert (response.status_code, response.json()["code"]) == (403, "download_token_invalid")
    assert world.api.client.get(url).status_code == 200  # the real one still works


def test_crafted_link_tokens_are_refused_not_a_500(world: World) -> None:
    url = link(world, completed_export(world))
    token_id, expiry, signature = url.rsplit("/", 1)[1].split(".")
    crafted = [
        f"{token_id}.\u00b2\u00b3.{signature}",  # superscripts pass str.isdigit(), not int()
        f"{token_id}.\u0661\u0662\u0663.{signature}",  # Arabic-Indic digits: int() reads them
        f"{token_id}.{'9' * 40}.{signature}",  # no datetime that far
        f"{token_id}.{'9' * 14}.{signature}",  # past the year 9999
        f"{token_id}.{expiry}.{signature[:-1]}\u00e9",  # compare_digest refuses non-ASCII str
        f"{token_id}\u00e9.{expiry}.{signature}",
    ]
    for token in crafted:
        response = world.api.client.get(f"/v1/downloads/{token}")
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

"""The console's JSON API on SQLite and PostgreSQL: an ``ops:read`` key reads it all and
changes nothing; users are refused; an admin retries or cancels all that matches."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from exportd.auth.api_keys import ApiKeys
from exportd.config import Settings
from exportd.db import Database
from tests.integration.test_console import admin_events, failed_deliveries, failed_exports
from tests.support.artifacts import World, completed_export, world_for

READS = (
    "/v1/ops/console/overview",
    "/v1/ops/console/activity",
    "/v1/ops/console/tenants",
    "/v1/ops/console/admin-events",
    "/v1/ops/console/dead-letters/exports",
    "/v1/ops/console/dead-letters/deliveries",
    "/v1/ops/export-ops",
    "/v1/ops/perf",
)


@pytest.fixture
def world(settings: Settings, db: Database, tmp_path: Path) -> Iterator[World]:
    with world_for(settings, db, tmp_path, job_attempts=1) as w:
        yield w


@pytest.fixture
def reader(db: Database) -> dict[str, str]:
    return {"X-API-Key": ApiKeys(db).create("dashboard", ["ops:read"])}


def test_an_ops_read_key_reads_everything_and_acts_on_nothing(
    world: World, reader: dict[str, str]
) -> None:
    client = world.api.client
    failed_exports(world, "alice", 2)
    for path in READS:
        answer = client.get(path, headers=reader)
        assert answer.status_code == 200, (path, answer.text)
    letters = client.get("/v1/ops/console/dead-letters/exports", headers=reader).json()
    assert letters["total"] == 2
    assert {item["owner_id"] for item in letters["items"]} == {"alice"}
    overview = client.get("/v1/ops/console/overview", headers=reader).json()
    assert overview["totals"]["failed"] == 2
    activity = client.get("/v1/ops/console/activity?hours=6", headers=reader).json()
    assert len(activity["hours"]) == 6
    assert activity["failure_ratio"] == 1.0
    refused = client.post("/v1/ops/console/dead-letters/exports/retry", json={}, headers=reader)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "admin_required"
    still = client.get("/v1/ops/console/dead-letters/exports", headers=reader).json()
    assert still["total"] == 2
    assert admin_events(world.db) == []


def test_users_are_refused_the_console(world: World) -> None:
    alice = world.api.as_user("alice")
    for path in READS:
        answer = world.api.client.get(path, headers=alice)
        assert (answer.status_code, answer.json()["code"]) == (403, "scope_missing"), path
    acted = world.api.client.post(
        "/v1/ops/console/dead-letters/exports/cancel", json={}, headers=alice
    )
    assert (acted.status_code, acted.json()["code"]) == (403, "admin_required")


def test_an_admin_retries_all_that_matches_and_the_log_says_who(world: World) -> None:
    client = world.api.client
    admin = world.api.as_user("root", admin=True)
    alice = failed_exports(world, "alice", 3)
    failed_exports(world, "bob", 1, code="source_query_failed")
    done = completed_export(world, "bob")
    failed_deliveries(world, done, "bob", 2)
    answer = client.post(
        "/v1/ops/console/dead-letters/exports/retry",
        json={"code": "row_limit_exceeded", "format": "csv"},
        headers=admin,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() | {"batches": 1} == {
        "kind": "exports",
        "action": "retry",
        "matched": 3,
        "changed": 3,
        "skipped": 0,
        "batches": 1,
    }
    for export_id in alice:
        assert client.get(f"/v1/exports/{export_id}", headers=admin).json()["status"] == "queued"
    letters = client.get("/v1/ops/console/dead-letters/deliveries?owner=bob", headers=admin)
    assert letters.json()["total"] == 2
    assert "target" not in letters.json()["items"][0]  # the owner's address stays theirs
    cancel = client.post("/v1/ops/console/dead-letters/deliveries/cancel", json={}, headers=admin)
    assert cancel.json()["changed"] == 2
    events = client.get("/v1/ops/console/admin-events", headers=admin).json()
    assert [(e["by"], e["detail"]["action"], e["detail"]["count"]) for e in events] == [
        ("root", "cancel", 2),
        ("root", "retry", 3),
    ]


def test_a_filter_that_cannot_match_is_refused_with_its_code(world: World) -> None:
    admin = world.api.as_user("root", admin=True)
    body = {"since": "2026-05-02T00:00:00Z", "until": "2026-05-01T00:00:00Z"}
    answer = world.api.client.post(
        "/v1/ops/console/dead-letters/exports/cancel", json=body, headers=admin
    )
    assert answer.status_code == 422
    assert answer.json()["code"] == "filter_range_invalid"
    listed = world.api.client.get(
        "/v1/ops/console/dead-letters/exports",
        params={"since": "2026-05-02T00:00:00", "until": "2026-05-01T00:00:00"},
        headers=admin,
    )
    assert listed.json()["code"] == "filter_range_invalid"
    unknown = world.api.client.get("/v1/ops/console/dead-letters/jobs", headers=admin)
    assert (unknown.status_code, unknown.json()["code"]) == (422, "request_invalid")
    assert admin_events(world.db) == []

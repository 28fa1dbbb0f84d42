"""Queues over HTTP (admin): list, read, pause and resume; the paused gauge in /metrics;
and export jobs carrying their owner's turn and plan limit.  SQLite and PostgreSQL."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from exportd.api.app import create_app
from exportd.auth.api_keys import ApiKeys
from exportd.config import Settings
from exportd.db import Database
from exportd.db.tables import export_events, exports, jobs
from exportd.queue import JobStore
from tests.support.api import Api
from tests.support.sources import fake_sources


@pytest.fixture
def api(settings: Settings, db: Database) -> Iterator[Api]:
    with TestClient(create_app(settings, db=db, sources=fake_sources())) as client:
        yield Api(client, settings)


def paused_gauge(api: Api) -> dict[str, float]:
    text = api.client.get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    return {s.labels["queue"]: s.value for s in families["exportd_queue_paused"].samples}


def test_only_admins_see_and_steer_queues(api: Api, db: Database) -> None:
    for method, path in (
        ("get", "/v1/ops/queues"),
        ("get", "/v1/ops/queues/default"),
        ("post", "/v1/ops/queues/default/pause"),
        ("post", "/v1/ops/queues/default/resume"),
    ):
        anonymous = api.client.request(method, path)
        assert (anonymous.status_code, anonymous.json()["code"]) == (401, "auth_required")
        user = api.client.request(method, path, headers=api.as_user("alice"))
        code = "admin_required" if method == "post" else "scope_missing"
        assert (user.status_code, user.json()["code"]) == (403, code)
        assert user.headers["content-type"] == "application/problem+json"
    dashboard = {"X-API-Key": ApiKeys(db).create("dashboard", ["ops:read"])}
    assert api.client.get("/v1/ops/queues", headers=dashboard).status_code == 200
    refused = api.client.post("/v1/ops/queues/default/pause", headers=dashboard)
    assert (refused.status_code, refused.json()["code"]) == (403, "admin_required")
    assert not api.client.get(
        "/v1/ops/queues/default", headers=api.as_user("root", admin=True)
    ).json()["paused"]


def test_unknown_queues_answer_404(api: Api) -> None:
    admin = api.as_user("root", admin=True)
    for method, path in (
        ("get", "/v1/ops/queues/nope"),
        ("post", "/v1/ops/queues/nope/pause"),
        ("post", "/v1/ops/queues/nope/resume"),
    ):
        answer = api.client.request(method, path, headers=admin)
        assert (answer.status_code, answer.json()["code"]) == (404, "queue_unknown")
        assert answer.headers["content-type"] == "application/problem+json"


def test_pause_survives_a_new_app_and_shows_in_metrics_then_resume(
    settings: Settings, db: Database, api: Api
) -> None:
    admin = api.as_user("root", admin=True)
    assert paused_gauge(api) == {"default": 0}
    assert api.create("alice").status_code == 202
    paused = api.client.post("/v1/ops/queues/default/pause", headers=admin)
    assert paused.status_code == 200, paused.text
    body = paused.json()
    assert (body["name"], body["paused"], body["paused_by"], body["queued"]) == (
        "default",
        True,
        "root",
        1,
    )
    with TestClient(create_app(settings, db=db, sources=fake_sources())) as client:
        again = Api(client, settings)
        [listed] = client.get("/v1/ops/queues", headers=admin).json()["items"]
        assert (listed["name"], listed["paused"]) == ("default", True)
        assert paused_gauge(again) == {"default": 1}
        response = client.get("/metrics")
        promtool = shutil.which("promtool")
        if promtool is None:
            assert not os.environ.get("CI"), "CI must have promtool (.ci/run installs it)"
        else:
            checked = subprocess.run(
                [promtool, "check", "metrics"], input=response.content, capture_output=True
            )
            assert checked.returncode == 0, checked.stdout + checked.stderr
    store = JobStore.from_settings(settings)
    with db.write() as conn:
        assert store.claim(conn, worker_id="w", queues=["default"], limit=5) == []
    resumed = api.client.post("/v1/ops/queues/default/resume", headers=admin).json()
    assert (resumed["paused"], resumed["paused_by"], resumed["paused_at"]) == (False, None, None)
    assert paused_gauge(api) == {"default": 0}
    with db.write() as conn:
        assert len(store.claim(conn, worker_id="w", queues=["default"], limit=5)) == 1
    with db.read() as conn:
        logged = conn.execute(
            select(export_events.c.kind, export_events.c.detail)
            .where(export_events.c.kind.like("queue_%"))
            .order_by(export_events.c.id)
        ).all()
    assert [(kind, detail) for kind, detail in logged] == [
        ("queue_paused", {"queue": "default", "by": "root"}),
        ("queue_resumed", {"queue": "default", "by": "root"}),
    ]


def test_export_jobs_carry_their_owner_and_plan_limit(api: Api, db: Database) -> None:
    admin = api.as_user("root", plan="pro", admin=True)
    plans = {p["name"]: p for p in api.client.get("/v1/plans", headers=admin).json()}
    assert (plans["free"]["max_running"], plans["pro"]["max_running"]) == (2, None)
    free = api.create("alice").json()["id"]
    pro = api.create("bob", plan="pro").json()["id"]
    changed = {**plans["pro"], "max_running": 4}
    del changed["name"]
    assert api.client.put("/v1/plans/pro", json=changed, headers=admin).status_code == 200
    too_low = api.client.put("/v1/plans/pro", json={**changed, "max_running": 0}, headers=admin)
    assert too_low.status_code == 422
    later = api.create("bob", plan="pro").json()["id"]
    with db.read() as conn:
        rows = conn.execute(
            select(exports.c.id, jobs.c.fair_key, jobs.c.fair_limit, jobs.c.fair_round).join(
                jobs, jobs.c.id == exports.c.job_id
            )
        ).all()
    by_id = {row.id: (row.fair_key, row.fair_limit) for row in rows}
    assert by_id == {free: ("alice", 2), pro: ("bob", None), later: ("bob", 4)}
    assert all(row.fair_round >= 1 for row in rows)

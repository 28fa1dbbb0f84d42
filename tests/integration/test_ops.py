"""The event log, the reports built on it, /metrics and the failure-ratio alert, on
SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from exportd.clock import ManualClock
from exportd.config import Settings
from exportd.db import Database
from exportd.db.tables import export_events
from exportd.delivery import webhooks
from exportd.errors import ErrorInfo
from exportd.exports.lifecycle import record_outcome
from exportd.ops import events
from exportd.ops.alerts import AlertPolicy, FailureRatioAlert
from exportd.ops.events import EventKind
from exportd.queue.models import Claimed, Outcome
from tests.support.artifacts import World, completed_export, worker_of, world_for
from tests.support.hooks import Receiver

KINDS = [k.value for k in EventKind]


@pytest.fixture
def world(settings: Settings, db: Database, tmp_path: Path) -> Iterator[World]:
    with world_for(settings, db, tmp_path, job_attempts=2, export_retry_cooldown_s=0) as w:
        yield w


def counter_values() -> dict[str, float]:
    """exportd_events_total in this process, summed per kind."""
    totals = dict.fromkeys(KINDS, 0.0)
    for family in REGISTRY.collect():
        if family.name != "exportd_events":
            continue
        for sample in family.samples:
            if sample.name == "exportd_events_total":
                totals[sample.labels["kind"]] += sample.value
    return totals


def logged(db: Database) -> dict[str, int]:
    with db.read() as conn:
        kinds = conn.execute(select(export_events.c.kind)).scalars().all()
    return {kind: kinds.count(kind) for kind in KINDS}


def settle_failure(world: World, *, retryable: bool) -> None:
    """Create an export, claim it and fail the attempt as a worker would."""
    service = world.api.client.app.state.exports  # type: ignore[attr-defined]
    world.api.create("alice")
    world.clock.advance(60)
    with world.db.write() as conn:
        [job] = service.store.claim(conn, worker_id="w", queues=["default"], limit=1)
    error = ErrorInfo("source_down" if retryable else "row_limit_exceeded", "boom", retryable)
    with world.db.write() as conn:
        settled = service.store.settle(
            conn, Outcome(claim=Claimed(job.id, job.attempt), error=error)
        )
        record_outcome(conn, settled, worker_of(service))


def mixed_run(world: World) -> str:
    """Completed (and downloaded), retried, failed terminally, cancelled."""
    done = completed_export(world)
    assert (
        world.api.client.get(
            f"/v1/exports/{done}/download", headers=world.api.as_user("alice")
        ).status_code
        == 200
    )
    settle_failure(world, retryable=True)  # retried, then (queued again) claimed below
    settle_failure(world, retryable=False)
    cancelled = world.api.create("alice").json()["id"]
    world.api.client.delete(f"/v1/exports/{cancelled}", headers=world.api.as_user("alice"))
    return done


def test_the_event_log_and_the_counters_agree_after_a_mixed_run(world: World) -> None:
    before = counter_values()
    mixed_run(world)
    log = logged(world.db)
    after = counter_values()
    assert {k: after[k] - before[k] for k in KINDS} == {k: float(v) for k, v in log.items()}
    assert log["enqueued"] == 4
    assert log["completed"] == 1
    assert log["downloaded"] == 1
    assert log["retried"] >= 1
    assert log["failed"] >= 1
    assert log["cancelled"] == 1


def test_events_of_a_rolled_back_savepoint_are_neither_counted_nor_logged(db: Database) -> None:
    """Only the events that committed are counted: those of a savepoint rolled back
    (a settle hook that failed, a refused schedule run) go with it, nested or not."""
    before = counter_values()
    now = ManualClock().now()

    def undone(conn: Any, kind: EventKind) -> None:
        with conn.begin_nested():
            events.record(conn, kind, now, job_id=1)
            raise RuntimeError("undone")

    with db.write() as conn:
        events.record(conn, EventKind.ENQUEUED, now, job_id=1)
        with conn.begin_nested():
            events.record(conn, EventKind.STARTED, now, job_id=1)
            with pytest.raises(RuntimeError):
                undone(conn, EventKind.FAILED)
            events.record(conn, EventKind.RETRIED, now, job_id=1)
        with pytest.raises(RuntimeError):
            undone(conn, EventKind.COMPLETED)
    counted = {k: v - before[k] for k, v in counter_values().items() if v != before[k]}
    assert counted == {"enqueued": 1.0, "started": 1.0, "retried": 1.0}
    assert {k: n for k, n in logged(db).items() if n} == counted


def test_events_carry_ids_and_labels_and_never_tokens(world: World) -> None:
    done = completed_export(world)
    link = world.api.client.post(
        f"/v1/exports/{done}/download-token", headers=world.api.as_user("alice")
    ).json()["url"]
    world.api.client.get(link)
    with world.db.read() as conn:
        rows = conn.execute(select(export_events).order_by(export_events.c.id)).all()
    assert [r.kind for r in rows] == ["enqueued", "completed", "downloaded"]
    completed = rows[1]
    assert (completed.export_id, completed.owner_id, completed.source, completed.format) == (
        done,
        "alice",
        "trades",
        "csv",
    )
    assert (completed.plan, completed.reason, completed.attempt) == ("free", "free-tier-export", 1)
    assert completed.detail["size"] > 0
    token = link.rsplit("/", 1)[1]
    assert all(token not in json.dumps(r._asdict(), default=str) for r in rows)


def test_export_ops_counts_from_the_log(world: World) -> None:
    mixed_run(world)
    response = world.api.client.get(
        "/v1/ops/export-ops?hours=24", headers=world.api.as_user("root", admin=True)
    )
    assert response.status_code == 200
    body = response.json()
    for name in (
        "pdfProcessed",
        "pdfFailed",
        "emailSent",
        "emailFailed",
        "cleanupCompleted",
        "cleanupFailed",
    ):
        assert body[name] == 0
    assert body["exportsCompleted"] == 1
    assert body["exportsCancelled"] == 1
    assert body["downloads"] == 1
    [split] = body["by_source_format"]
    assert (split["source"], split["format"], split["exportsEnqueued"]) == ("trades", "csv", 4)
    denied = world.api.client.get("/v1/ops/export-ops", headers=world.api.as_user("alice"))
    assert denied.status_code == 403


def test_perf_reports_percentiles_per_source_and_format(world: World) -> None:
    for _ in range(3):
        completed_export(world)
    body = world.api.client.get(
        "/v1/ops/perf?hours=1", headers=world.api.as_user("root", admin=True)
    ).json()
    [item] = body["items"]
    assert (item["source"], item["format"], item["count"]) == ("trades", "csv", 3)
    assert item["size"]["p50"] == item["size"]["max"] > 0
    assert item["run_ms"]["max"] >= item["run_ms"]["p95"] >= item["run_ms"]["p50"] >= 0


def test_metrics_parse_and_show_queue_depth(world: World) -> None:
    world.api.create("alice")
    response = world.api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    depth = {s.labels["state"]: s.value for s in families["exportd_queue_jobs"].samples}
    assert depth["queued"] == 1
    assert "exportd_queue_oldest_queued_seconds" in families
    assert "exportd_events" in families
    assert "exportd_job_run_seconds" in families
    promtool = shutil.which("promtool")
    if promtool is None:
        assert not os.environ.get("CI"), "CI must have promtool (.ci/run installs it)"
        pytest.skip("promtool is not installed here (Debian package prometheus)")
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=response.content, capture_output=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


# -- the alert ---------------------------------------------------------------------------


def finished(db: Database, clock: ManualClock, *, failed: int, completed: int) -> None:
    with db.write() as conn:
        for _ in range(failed):
            events.record(conn, EventKind.FAILED, clock.now(), code="boom")
        for _ in range(completed):
            events.record(conn, EventKind.COMPLETED, clock.now())


def fired(db: Database) -> int:
    with db.read() as conn:
        return len(
            conn.execute(select(export_events).where(export_events.c.kind == "alert_fired")).all()
        )


POLICY = AlertPolicy(window_s=600, min_events=10, threshold=0.5, cooldown_s=1800)


def test_the_alert_needs_enough_events_and_a_high_enough_ratio(db: Database) -> None:
    clock = ManualClock()
    alert = FailureRatioAlert(db, POLICY, clock=clock)
    finished(db, clock, failed=6, completed=0)
    assert alert.check() is None  # 6 events: too few to judge
    finished(db, clock, failed=0, completed=8)
    assert alert.check() is None  # 6 of 14 failed: under half
    finished(db, clock, failed=3, completed=0)
    raised = alert.check()
    assert raised is not None
    assert (raised.failed, raised.total) == (9, 17)


def test_the_alert_fires_once_per_cooldown_and_only_inside_its_window(
    db: Database, receiver: Receiver
) -> None:
    clock = ManualClock()
    secret = webhooks.derived_secret("k")
    alert = FailureRatioAlert(
        db,
        POLICY,
        webhook_url=receiver.url,
        webhook_secret=secret,
        allow_private=True,
        clock=clock,
    )
    finished(db, clock, failed=10, completed=0)
    assert alert.check() is not None
    assert alert.check() is None  # cooling down
    clock.advance(900)
    finished(db, clock, failed=10, completed=0)
    assert alert.check() is None  # still cooling down (30 minutes)
    clock.advance(1000)  # past the cooldown; the last failures are 1,000 s old: out of window
    assert alert.check() is None
    finished(db, clock, failed=10, completed=0)
    assert alert.check() is not None
    assert fired(db) == 2
    hooks = receiver.wait(2)
    body = json.loads(hooks[0].body)
    assert body["type"] == "alert.fired"
    assert body["data"]["ratio"] == 1.0
    h = hooks[0].headers
    assert webhooks.verify(
        webhooks.signing_key(secret),
        h["webhook-id"],
        int(h["webhook-timestamp"]),
        hooks[0].body,
        h["webhook-signature"],
    )


def test_old_events_are_pruned(db: Database) -> None:
    clock = ManualClock()
    finished(db, clock, failed=1, completed=2)
    clock.advance(10)
    finished(db, clock, failed=0, completed=1)
    with db.write() as conn:
        removed = events.prune(conn, before=clock.now() - timedelta(seconds=5))
    assert removed == 3
    assert sum(logged(db).values()) == 1

"""The operator's console on SQLite and PostgreSQL: the overview (jobs by state and
queue, the oldest waiting job, workers with their jobs and memory), the last day's
activity, tenants' usage, and the dead letters searched and retried or cancelled all at
once, in batches, with one admin event each."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from exportd.auth.principal import Principal
from exportd.config import Settings
from exportd.db import Database
from exportd.db.tables import deliveries, export_events, exports, jobs
from exportd.errors import ErrorInfo, RequestInvalid
from exportd.exports.lifecycle import record_outcome
from exportd.exports.models import ExportRequest, ExportStatus
from exportd.exports.service import ExportService
from exportd.ops.console import Console
from exportd.ops.dead_letters import Action, DeadLetterFilter, DeadLetters, Kind
from exportd.queue import workers
from exportd.queue.models import Claimed, Outcome
from tests.support.artifacts import World, completed_export, worker_of, world_for

ADMIN = Principal("root", "pro", is_admin=True)


@pytest.fixture
def world(settings: Settings, db: Database, tmp_path: Path) -> Iterator[World]:
    overrides = {"job_attempts": 1, "export_retry_cooldown_s": 0}
    with world_for(settings, db, tmp_path, **overrides) as w:
        yield w


def state(world: World, name: str) -> Any:
    return getattr(world.api.client.app.state, name)  # type: ignore[attr-defined]


def failed_exports(
    world: World, owner: str, count: int, *, code: str = "row_limit_exceeded"
) -> list[str]:
    """``count`` exports of ``owner`` that failed for good with ``code``."""
    service: ExportService = state(world, "exports")
    ids = []
    for _ in range(count):
        view, _ = service.create(
            Principal(owner, "pro"), ExportRequest(source="trades", format="csv", params={})
        )
        ids.append(view.id)
    with world.db.write() as conn:
        claimed = service.store.claim(conn, worker_id="w", queues=["default"], limit=count)
    for job in claimed:
        error = ErrorInfo(code, "too many rows", False)
        with world.db.write() as conn:
            settled = service.store.settle(
                conn, Outcome(claim=Claimed(job.id, job.attempt), error=error)
            )
            record_outcome(conn, settled, worker_of(service))
    return ids


def failed_deliveries(world: World, export_id: str, owner: str, count: int) -> list[str]:
    now = world.clock.now()
    ids = [uuid.uuid4().hex for _ in range(count)]
    with world.db.write() as conn:
        for delivery_id in ids:
            conn.execute(
                insert(deliveries).values(
                    id=delivery_id,
                    export_id=export_id,
                    owner_id=owner,
                    channel="webhook",
                    event="export.completed",
                    target="https://hooks.example.com/x",
                    status="failed",
                    attempts=3,
                    error={"code": "webhook_rejected", "message": "410"},
                    created_at=now,
                    updated_at=now,
                )
            )
    return ids


def statuses(world: World, ids: list[str]) -> set[str]:
    service: ExportService = state(world, "exports")
    return {service.get(ADMIN, export_id).status.value for export_id in ids}


def admin_events(db: Database) -> list[Any]:
    with db.read() as conn:
        return conn.execute(
            select(export_events).where(export_events.c.kind == "admin_action")
        ).all()


def test_search_narrows_by_owner_source_code_and_time(world: World) -> None:
    letters: DeadLetters = state(world, "dead_letters")
    alice = failed_exports(world, "alice", 3)
    world.clock.advance(3600)
    bob = failed_exports(world, "bob", 2, code="source_query_failed")
    everything = letters.search(Kind.EXPORTS, DeadLetterFilter())
    assert everything.total == 5
    assert {item.id for item in everything.items} == {*alice, *bob}
    assert letters.search(Kind.EXPORTS, DeadLetterFilter(owner="alice")).total == 3
    by_code = letters.search(Kind.EXPORTS, DeadLetterFilter(code="source_query_failed"))
    assert {item.id for item in by_code.items} == set(bob)
    assert by_code.items[0].error_message == "too many rows"
    recent = DeadLetterFilter(since=world.clock.now() - timedelta(minutes=30))
    assert letters.search(Kind.EXPORTS, recent).total == 2
    assert letters.search(Kind.EXPORTS, DeadLetterFilter(source="nope")).total == 0
    assert letters.search(Kind.EXPORTS, DeadLetterFilter(format="csv"), limit=1).total == 5
    assert len(letters.search(Kind.EXPORTS, DeadLetterFilter(), limit=1).items) == 1
    with pytest.raises(RequestInvalid) as refused:
        DeadLetterFilter(since=world.clock.now(), until=world.clock.now() - timedelta(hours=1))
    assert refused.value.code == "filter_range_invalid"


def test_bulk_retry_requeues_every_match_across_batches_and_records_one_event(
    world: World,
) -> None:
    letters: DeadLetters = state(world, "dead_letters")
    letters.batch_size = 2  # seven matches: four batches
    alice = failed_exports(world, "alice", 7)
    bob = failed_exports(world, "bob", 2)
    result = letters.act(Kind.EXPORTS, Action.RETRY, DeadLetterFilter(owner="alice"), by=ADMIN)
    assert (result.matched, result.changed, result.skipped, result.batches) == (7, 7, 0, 4)
    assert statuses(world, alice) == {"queued"}
    assert statuses(world, bob) == {"failed"}
    assert letters.search(Kind.EXPORTS, DeadLetterFilter(owner="alice")).total == 0
    with world.db.read() as conn:
        queued = conn.execute(
            select(jobs.c.state).where(
                jobs.c.id.in_(select(exports.c.job_id).where(exports.c.id.in_(alice)))
            )
        ).scalars()
        assert set(queued) == {"queued"}
        retried = conn.execute(
            select(export_events.c.export_id).where(
                export_events.c.kind == "retried", export_events.c.code == "admin"
            )
        ).scalars()
        assert sorted(retried) == sorted(alice)
    [event] = admin_events(world.db)
    assert event.code == "exports.retry"
    assert event.detail["by"] == "root"
    assert event.detail["count"] == 7
    assert event.detail["filter"] == {"owner": "alice"}
    assert "root retried 7 dead exports" in event.message


def test_bulk_cancel_takes_exports_out_of_the_dead_letters_for_good(world: World) -> None:
    letters: DeadLetters = state(world, "dead_letters")
    dead = failed_exports(world, "alice", 3)
    result = letters.act(Kind.EXPORTS, Action.CANCEL, DeadLetterFilter(), by=ADMIN)
    assert (result.matched, result.changed) == (3, 3)
    assert statuses(world, dead) == {ExportStatus.CANCELLED.value}
    assert letters.search(Kind.EXPORTS, DeadLetterFilter()).total == 0
    # Nothing is left to retry, and the action is still recorded, with its count.
    again = letters.act(Kind.EXPORTS, Action.RETRY, DeadLetterFilter(), by=ADMIN)
    assert (again.matched, again.batches) == (0, 0)
    assert [e.detail["count"] for e in admin_events(world.db)] == [3, 0]


def test_deliveries_are_searched_and_retried_or_cancelled(world: World) -> None:
    letters: DeadLetters = state(world, "dead_letters")
    letters.batch_size = 3
    done = completed_export(world, "alice")
    retry = failed_deliveries(world, done, "alice", 4)
    other = completed_export(world, "bob")
    give_up = failed_deliveries(world, other, "bob", 2)
    page = letters.search(Kind.DELIVERIES, DeadLetterFilter(code="webhook_rejected"))
    assert page.total == 6
    assert {item.channel for item in page.items} == {"webhook"}
    assert {item.source for item in page.items} == {"trades"}
    result = letters.act(Kind.DELIVERIES, Action.RETRY, DeadLetterFilter(owner="alice"), by=ADMIN)
    assert (result.changed, result.batches) == (4, 2)
    cancelled = letters.act(Kind.DELIVERIES, Action.CANCEL, DeadLetterFilter(), by=ADMIN)
    assert cancelled.changed == 2
    with world.db.read() as conn:
        rows = conn.execute(select(deliveries.c.id, deliveries.c.status, deliveries.c.job_id))
        found = {row.id: (row.status, row.job_id) for row in rows}
    assert {found[i][0] for i in retry} == {"pending"}
    assert all(found[i][1] is not None for i in retry)  # a new job sends each again
    assert {found[i][0] for i in give_up} == {"cancelled"}
    assert [e.code for e in admin_events(world.db)] == ["deliveries.retry", "deliveries.cancel"]


def test_overview_activity_and_tenants(world: World) -> None:
    console: Console = state(world, "console")
    # The exports below and the reads after them fall in the same hour, whenever it runs.
    world.clock.advance(3600 - world.clock.now().minute * 60 - world.clock.now().second)
    completed_export(world, "alice")
    failed_exports(world, "bob", 1)
    state(world, "exports").create(
        Principal("carol", "free"), ExportRequest(source="trades", format="csv", params={})
    )
    world.clock.advance(120)
    now = world.clock.now()
    with world.db.write() as conn:
        workers.register(conn, workers.WorkerInfo("w", "host", 42, ["default"], 2), now)
        [job] = state(world, "exports").store.claim(
            conn, worker_id="w", queues=["default"], limit=1
        )
        load = workers.WorkerLoad([workers.RunningJob(job.id, job.task, 5_000_000)], 80_000_000)
        workers.heartbeat(conn, "w", now, load)
    overview = console.overview()
    [default] = overview.queues
    assert default.queue == "default"
    assert default.counts["running"] == 1
    assert overview.totals["completed"] == 1
    assert overview.totals["failed"] == 1
    [worker] = overview.workers
    assert (worker.hostname, worker.rss_bytes, worker.stale) == ("host", 80_000_000, False)
    assert [(r.job_id, r.rss_bytes) for r in worker.running] == [(job.id, 5_000_000)]
    assert overview.oldest_waiting is None  # the only queued export is running now
    activity = console.activity()
    assert len(activity.hours) == 24
    assert (activity.completed, activity.failed) == (1, 1)
    assert activity.failure_ratio == 0.5
    assert activity.hours[-1].completed == 1
    tenants = {t.owner_id: t for t in console.tenants()}
    assert set(tenants) == {"alice", "bob", "carol"}
    assert tenants["carol"].plan == "free"
    assert tenants["carol"].usage["usage"]["active_exports"] == 1
    world.clock.advance(3600)  # no heartbeat for two leases: shown as likely dead
    assert console.overview().workers[0].stale


def test_the_oldest_waiting_job_is_the_one_due_longest(world: World) -> None:
    console: Console = state(world, "console")
    service: ExportService = state(world, "exports")
    first, _ = service.create(
        Principal("alice", "pro"), ExportRequest(source="trades", format="csv", params={})
    )
    world.clock.advance(90)
    service.create(Principal("bob", "pro"), ExportRequest(source="trades", format="csv", params={}))
    world.clock.advance(10)
    oldest = console.overview().oldest_waiting
    assert oldest is not None
    assert oldest.export_id == first.id
    assert oldest.waiting_s == pytest.approx(100, abs=1)

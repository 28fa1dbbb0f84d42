"""Settle hooks and periodic jobs take their time and settings from the worker's context
(what the supervisor was given), never from the system clock or the environment.

The clock starts years from today and stands still: a value stamped with the system's
time instead cannot equal it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from exportd.app_wiring import worker_app
from exportd.clock import ManualClock
from exportd.config import load_settings
from exportd.db import create_database
from exportd.db.tables import deliveries, export_events, exports, jobs, metadata
from exportd.delivery.jobs import DELIVER_TASK, record_delivery
from exportd.exports.lifecycle import record_outcome
from exportd.exports.models import PlanLimits
from exportd.exports.plans import save_plan
from exportd.exports.task import EXPORT_TASK
from exportd.queue import JobStore, NewJob
from exportd.queue.app import WorkerContext
from exportd.queue.models import Claimed, Outcome

START = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
PLAN = PlanLimits(
    name="free",
    max_active_jobs=3,
    max_batch_size=10,
    storage_quota_bytes=10**9,
    daily_export_bytes=10**9,
    max_rows=1000,
    retention_days=7,
    formats_allowed=("csv",),
    watermark=False,
)


@pytest.fixture
def worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WorkerContext]:
    # The environment says one thing, the worker was given another: the given one counts.
    monkeypatch.setenv("EXPORTD_DELIVERY_ATTEMPTS", "2")
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'exportd.db'}",
        storage_url=f"file://{tmp_path / 'files'}",
        delivery_attempts=7,
        cleanup_interval_seconds=123,
    )
    db = create_database(settings)
    metadata.create_all(db.engine)
    with db.write() as conn:
        save_plan(conn, PLAN)
    store = JobStore.from_settings(settings, clock=ManualClock(START))
    yield WorkerContext(settings=settings, db=db, store=store)
    db.dispose()


def queued_export(worker: WorkerContext, **values: Any) -> str:
    with worker.db.write() as conn:
        job = worker.store.enqueue(conn, NewJob(task=EXPORT_TASK, payload={})).job
        row = {
            "id": "e1",
            "owner_id": "alice",
            "plan": "free",
            "source": "trades",
            "format": "csv",
            "params": {},
            "job_id": job.id,
            "status": "queued",
            "created_at": START,
            "updated_at": START,
        }
        conn.execute(insert(exports).values({**row, **values}))
    return "e1"


def settle(worker: WorkerContext, task: str, result: dict[str, Any]) -> Any:
    """Claim the task's job and settle it completed, as the supervisor would."""
    with worker.db.write() as conn:
        [job] = worker.store.claim(conn, worker_id="w", queues=["default"], limit=1)
        assert job.task == task
        return worker.store.settle(conn, Outcome(claim=Claimed(job.id, job.attempt), result=result))


def test_the_settle_hooks_stamp_the_workers_time_and_use_its_settings(
    worker: WorkerContext,
) -> None:
    export_id = queued_export(worker, notify={"email": "alice@example.com"})
    settled = settle(worker, EXPORT_TASK, {"key": "alice/e1/1/t.csv", "size": 10})
    with worker.db.write() as conn:
        record_outcome(conn, settled, worker)
    with worker.db.read() as conn:
        export = conn.execute(select(exports).where(exports.c.id == export_id)).one()
        event = conn.execute(select(export_events).where(export_events.c.kind == "completed")).one()
        delivery = conn.execute(select(deliveries)).one()
        attempts = conn.execute(
            select(jobs.c.max_attempts).where(jobs.c.id == delivery.job_id)
        ).scalar()
    assert export.status == "completed"
    assert export.updated_at == START
    assert export.expires_at == START + timedelta(days=PLAN.retention_days)
    assert event.at == START
    assert delivery.created_at == START
    assert attempts == 7  # the worker's settings, not the environment's 2

    sent = settle(worker, DELIVER_TASK, {"channel": "email"})
    with worker.db.write() as conn:
        record_delivery(conn, sent, worker)
    with worker.db.read() as conn:
        delivery = conn.execute(select(deliveries)).one()
        event = conn.execute(
            select(export_events).where(export_events.c.kind == "email_sent")
        ).one()
    assert (delivery.status, delivery.sent_at, delivery.updated_at) == ("sent", START, START)
    assert event.at == START


def test_the_cleanup_job_runs_on_the_workers_clock_and_schedule(worker: WorkerContext) -> None:
    """The export expires a week after the worker's clock starts, years from today: only
    a cleanup that reads the worker's clock sees it expired, and stamps that time."""
    export_id = queued_export(
        worker,
        status="completed",
        result={"key": "alice/e1/1/t.csv"},
        expires_at=START + timedelta(days=7),
    )
    [cleanup] = [job for job in worker_app().periodic_jobs if job.name == "exportd.cleanup"]
    assert cleanup.every(worker.settings) == 123
    assert isinstance(worker.clock, ManualClock)
    worker.clock.advance(8 * 86_400)
    cleanup.run(worker)
    with worker.db.read() as conn:
        export = conn.execute(select(exports).where(exports.c.id == export_id)).one()
        event = conn.execute(select(export_events).where(export_events.c.kind == "expired")).one()
    assert export.status == "expired"
    assert export.updated_at == START + timedelta(days=8)
    assert event.at == START + timedelta(days=8)

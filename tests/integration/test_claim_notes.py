"""Claim notes: the supervisor reads, in the transaction that claims an export's job,
what the export's child would read first (the export, its plan, the owner's usage) and
hands it over with the job, so a small export's child makes no read of its own."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import update

from exportd.auth.principal import Principal
from exportd.config import Settings
from exportd.db import Database
from exportd.db.tables import exports
from exportd.exports.lifecycle import record_started
from exportd.exports.models import ExportRequest
from exportd.exports.service import ExportService
from exportd.exports.start import Start, read_start
from exportd.exports.task import EXPORT_TASK, _start
from exportd.queue import JobStore, NewJob
from exportd.queue.app import WorkerContext
from tests.support.inline_worker import _Context
from tests.support.sources import fake_sources


@pytest.fixture
def worker(settings: Settings, db: Database) -> WorkerContext:
    return WorkerContext(settings=settings, db=db, store=JobStore.from_settings(settings))


def created(worker: WorkerContext, owner: str, plan: str) -> str:
    service = ExportService(
        db=worker.db, store=worker.store, sources=fake_sources(), settings=worker.settings
    )
    request = ExportRequest(source="trades", format="csv", params={})
    return service.create(Principal(owner, plan), request)[0].id


def claim_all(worker: WorkerContext) -> tuple[list[Any], dict[int, Any]]:
    with worker.db.write() as conn:
        jobs = worker.store.claim(conn, worker_id="w", queues=["default"], limit=10)
        return jobs, record_started(conn, jobs, worker)


def test_the_claim_reads_what_each_export_s_child_would(worker: WorkerContext) -> None:
    mine, other = created(worker, "alice", "pro"), created(worker, "bob", "free")
    with worker.db.write() as conn:  # a job of another task takes no note
        worker.store.enqueue(conn, NewJob(task="exportd.noop"))
    jobs, notes = claim_all(worker)
    assert len(jobs) == 3
    assert {note.export.id for note in notes.values()} == {mine, other}
    for job_id, note in notes.items():
        assert next(job for job in jobs if job.id == job_id).task == EXPORT_TASK
        with worker.db.read() as conn:
            fresh = read_start(conn, note.export.id, note.read_at)
        assert note.export._mapping == fresh.export._mapping
        assert (note.plan, note.usage) == (fresh.plan, fresh.usage)


def test_a_child_with_its_note_reads_nothing_and_one_without_reads_its_export(
    worker: WorkerContext,
) -> None:
    export_id = created(worker, "alice", "pro")
    _, notes = claim_all(worker)
    [note] = notes.values()
    # The export changes after the claim: only a read would see it.
    with worker.db.write() as conn:
        conn.execute(update(exports).where(exports.c.id == export_id).values(columns=["price"]))

    class Runtime:
        db = worker.db
        clock = worker.store.clock

    def started(claim_note: Any) -> Start:
        ctx = _Context(job_id=1, attempt=1, correlation_id=None, claim_note=claim_note)
        return _start(ctx, Runtime(), export_id)  # type: ignore[arg-type]

    assert started(note) is note
    assert started(None).export.columns == ["price"]
    # A note of another export is not taken for this one's.
    other_export = SimpleNamespace(**{**note.export._mapping, "id": "other"})
    elsewhere = Start(other_export, note.plan, note.usage, note.read_at)  # type: ignore[arg-type]
    assert started(elsewhere).export.columns == ["price"]

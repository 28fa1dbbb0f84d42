"""Run queued jobs in the test process, as a worker would: claim, run the task, settle,
and call the task's settle hook in the settling transaction.  For integration tests of
tasks and their hooks; the real worker processes are in ``tests/support/workers.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exportd.app_wiring import worker_app
from exportd.config import Settings
from exportd.db import Database
from exportd.errors import JobCancelled, classify
from exportd.exports.task import runtime, use_settings
from exportd.queue import JobStore
from exportd.queue.app import WorkerContext
from exportd.queue.models import Claimed, Outcome


@dataclass
class _Context:
    job_id: int
    attempt: int
    correlation_id: str | None
    claim_note: Any = None

    def checkpoint(self, **progress: Any) -> None:
        pass

    @property
    def cancel_requested(self) -> bool:
        return False


def work_off(settings: Settings, db: Database, store: JobStore, *, rounds: int = 50) -> int:
    """Run every ready job, again and again until none is ready; returns how many ran."""
    app = worker_app()
    use_settings(settings)
    context = WorkerContext(settings=settings, db=db, store=store)
    try:
        return _rounds(app, context, rounds)
    finally:  # the child's runtime (its database engine) would outlive the test
        if runtime.cache_info().currsize:
            runtime().db.dispose()
            runtime().connections.dispose()
            runtime.cache_clear()


def _rounds(app: Any, context: WorkerContext, rounds: int) -> int:
    db, store = context.db, context.store
    ran = 0
    for _ in range(rounds):
        with db.write() as conn:
            jobs = store.claim(conn, worker_id="inline", queues=["default"], limit=10)
            notes = app.claimed(conn, jobs, context)
        if not jobs:
            return ran
        for job in jobs:
            task = app.tasks.get(job.task)
            claim = Claimed(job.id, job.attempt)
            ctx = _Context(job.id, job.attempt, job.correlation_id, notes.get(job.id))
            try:
                outcome = Outcome(claim=claim, result=task.run(ctx, job.payload) or {})
            except JobCancelled:
                outcome = Outcome(claim=claim, cancelled=True)
            except Exception as exc:
                outcome = Outcome(claim=claim, error=classify(exc))
            with db.write() as conn:
                settled = store.settle(conn, outcome)
                if task.on_settled is not None:
                    task.on_settled(conn, settled, context)
            ran += 1
    return ran

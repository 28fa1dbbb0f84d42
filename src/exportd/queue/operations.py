"""What an operator does with the queue, each call one transaction: the overview, jobs
listed and shown, a dead letter retried, a job cancelled.  The CLI and the console call
this instead of opening transactions around the store themselves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row

from exportd.db import Database
from exportd.queue import workers
from exportd.queue.models import Job, JobState
from exportd.queue.store import JobStore, QueueStats


@dataclass(frozen=True, slots=True)
class QueueOverview:
    stats: QueueStats
    workers: list[Row[Any]]  # alive: not signed off, oldest first
    now: datetime

    @property
    def oldest_wait_s(self) -> float | None:
        oldest = self.stats.oldest_queued_at
        return None if oldest is None else (self.now - oldest).total_seconds()


class QueueOperations:
    def __init__(self, db: Database, store: JobStore) -> None:
        self.db = db
        self.store = store

    def overview(self) -> QueueOverview:
        with self.db.read() as conn:
            stats = self.store.stats(conn)
            alive = workers.running(conn)
        return QueueOverview(stats=stats, workers=alive, now=self.store.clock.now())

    def jobs(
        self, *, state: JobState | None = None, task: str | None = None, limit: int = 50
    ) -> list[Job]:
        with self.db.read() as conn:
            return self.store.list(conn, state=state, task=task, limit=limit)

    def job(self, job_id: int) -> Job:
        with self.db.read() as conn:
            return self.store.get(conn, job_id)

    def retry(self, job_id: int) -> Job:
        """Requeue a dead letter with a fresh attempt budget."""
        with self.db.write() as conn:
            return self.store.requeue(conn, job_id)

    def cancel(self, job_id: int) -> JobState:
        """Cancel a queued job, or ask a running one to stop at its next checkpoint."""
        with self.db.write() as conn:
            return self.store.cancel(conn, job_id)

"""Owners' and operators' side of the store: read, cancel, requeue, list, count, prune."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from exportd.clock import Clock
from exportd.config import KeepPolicy
from exportd.db.tables import jobs
from exportd.errors import InvalidTransition, JobNotFound
from exportd.queue.fair import next_round
from exportd.queue.models import Job, JobState
from exportd.queue.sql import in_state, notify, to_job


@dataclass(frozen=True, slots=True)
class QueueStats:
    counts: dict[JobState, int]
    oldest_queued_at: datetime | None


class Operating:
    """``JobStore``'s owner and operator methods (see :mod:`exportd.queue.store`)."""

    clock: Clock

    def get(self, conn: Connection, job_id: int) -> Job:
        row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
        if row is None:
            raise JobNotFound(f"no job with id {job_id}")
        return to_job(row)

    def cancel(self, conn: Connection, job_id: int) -> JobState:
        """Queued: cancelled at once.  Running: cancellation requested (state stays running)."""
        now = self.clock.now()
        done = conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id, in_state(JobState.QUEUED))
            .values(state="cancelled", finished_at=now, updated_at=now)
            .returning(jobs.c.id)
        ).first()
        if done is not None:
            return JobState.CANCELLED
        requested = conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id, in_state(JobState.RUNNING))
            .values(cancel_requested=True, updated_at=now)
            .returning(jobs.c.queue)
        ).first()
        if requested is not None:
            # Wakes the workers, which then look for cancel requests among their jobs:
            # the child hears of it before its next batch, not at a heartbeat.
            notify(conn, {requested.queue})
            return JobState.RUNNING
        job = self.get(conn, job_id)
        raise InvalidTransition(f"job {job_id} is {job.state.value} and cannot be cancelled")

    def requeue(self, conn: Connection, job_id: int) -> Job:
        """Take a failed job out of the dead letter with a fresh attempt budget (and, for
        a keyed job, a fresh turn: its old round would put it ahead of everyone)."""
        now = self.clock.now()
        failed = self.get(conn, job_id)
        fair_round = failed.fair_round
        if failed.fair_key is not None and failed.state is JobState.FAILED:
            fair_round = next_round(
                conn, key=failed.fair_key, queue=failed.queue, priority=failed.priority, now=now
            )
        stmt = (
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.state == "failed")
            .values(
                state="queued",
                attempts_used=0,
                run_after=now,
                finished_at=None,
                cancel_requested=False,
                updated_at=now,
                fair_round=fair_round,
            )
            .returning(*jobs.c)
        )
        try:
            with conn.begin_nested():
                row = conn.execute(stmt).first()
        except IntegrityError:
            raise InvalidTransition(
                f"job {job_id} cannot be requeued: an active job has the same unique key"
            ) from None
        if row is None:
            job = self.get(conn, job_id)
            raise InvalidTransition(f"job {job_id} is {job.state.value}; only failed jobs requeue")
        notify(conn, {row.queue})
        return to_job(row)

    def list(
        self,
        conn: Connection,
        *,
        state: JobState | None = None,
        task: str | None = None,
        limit: int = 50,
        before_id: int | None = None,
    ) -> list[Job]:
        query = select(jobs).order_by(jobs.c.id.desc()).limit(limit)
        if state is not None:
            query = query.where(jobs.c.state == state.value)
        if task is not None:
            query = query.where(jobs.c.task == task)
        if before_id is not None:
            query = query.where(jobs.c.id < before_id)
        return [to_job(row) for row in conn.execute(query)]

    def stats(self, conn: Connection) -> QueueStats:
        counts = {state: 0 for state in JobState}
        for row in conn.execute(select(jobs.c.state, func.count()).group_by(jobs.c.state)):
            counts[JobState(row[0])] = row[1]
        oldest = conn.execute(
            select(func.min(jobs.c.run_after)).where(in_state(JobState.QUEUED))
        ).scalar()
        return QueueStats(counts, oldest)

    def prune(
        self,
        conn: Connection,
        *,
        keep_completed: KeepPolicy,
        keep_failed: KeepPolicy,
        batch: int = 1000,
    ) -> int:
        """Delete finished jobs beyond the retention policies; at most ``batch`` per policy step."""
        removed = 0
        for states, keep in (
            (("completed", "cancelled"), keep_completed),
            (("failed",), keep_failed),
        ):
            removed += self._prune_states(conn, states, keep, batch)
        return removed

    def _prune_states(
        self, conn: Connection, states: tuple[str, ...], keep: KeepPolicy, batch: int
    ) -> int:
        removed = 0
        finished = jobs.c.state.in_(states)
        if keep.age_s is not None:
            cutoff = self.clock.now() - timedelta(seconds=keep.age_s)
            old = select(jobs.c.id).where(finished, jobs.c.finished_at < cutoff).limit(batch)
            removed += conn.execute(
                delete(jobs).where(jobs.c.id.in_(old.scalar_subquery()))
            ).rowcount
        if keep.count is not None:
            surplus = (
                select(jobs.c.id)
                .where(finished)
                .order_by(jobs.c.finished_at.desc(), jobs.c.id.desc())
                .offset(keep.count)
                .limit(batch)
            )
            removed += conn.execute(
                delete(jobs).where(jobs.c.id.in_(surplus.scalar_subquery()))
            ).rowcount
        return int(removed)

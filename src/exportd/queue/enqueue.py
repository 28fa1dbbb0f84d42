"""Producers' side of the store: a job inserted in the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Row, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from exportd import tracing
from exportd.clock import Clock
from exportd.db.rows import checked
from exportd.db.tables import jobs
from exportd.queue.fair import next_round, round_of_new_job
from exportd.queue.models import ACTIVE_STATES, Job, JobState, NewJob
from exportd.queue.retry import RetryPolicy
from exportd.queue.sql import in_state, notify, notify_column, to_job


@dataclass(frozen=True, slots=True)
class Enqueued:
    job: Job
    created: bool  # False when an active job with the same unique key already existed


class Enqueueing:
    """``JobStore``'s producer methods (see :mod:`exportd.queue.store`)."""

    policy: RetryPolicy
    default_timeout_s: float | None
    clock: Clock

    def enqueue(self, conn: Connection, new: NewJob) -> Enqueued:
        """Insert a job in the caller's transaction; an active duplicate unique key wins."""
        attributes = {"exportd.job.task": new.task, "exportd.job.queue": new.queue}
        with tracing.span("exportd.queue.enqueue", attributes, kind="producer") as span:
            enqueued = self._enqueue(conn, new)
            span.set("exportd.job.id", enqueued.job.id)
            span.set("exportd.job.created", enqueued.created)
        return enqueued

    def _enqueue(self, conn: Connection, new: NewJob) -> Enqueued:
        # A keyed job's fair round is worked out by its INSERT, and PostgreSQL's NOTIFY
        # rides it (a column of its RETURNING): two round trips fewer, and a notice only
        # for a job that was inserted.
        dialect, fair = conn.dialect.name, new.fair_key is not None
        values: dict[str, Any] = dict(checked(jobs, self._insert_values(new, 0)))
        if fair:
            del values["fair_round"]
            values.update(
                round_key=new.fair_key,
                round_queue=new.queue,
                round_priority=new.priority,
                now=self.clock.now(),
            )
        stmt = _inserting(dialect, new.queue, unique=new.unique_key is not None, fair=fair)
        row: Row[Any] | None = conn.execute(stmt, values).first()
        if row is None:
            assert new.unique_key is not None
            return Enqueued(self._active_by_unique_key(conn, new.unique_key), created=False)
        if dialect != "postgresql":
            notify(conn, {new.queue})
        return Enqueued(to_job(row), created=True)

    def enqueue_many(self, conn: Connection, news: Sequence[NewJob]) -> list[int]:
        """Insert many jobs with one statement (unique keys are not supported here)."""
        if not news:
            return []
        if any(new.unique_key for new in news):
            raise ValueError("enqueue_many does not take unique keys; use enqueue")
        rounds = self._rounds(conn, news)
        rows = conn.execute(
            insert(jobs).returning(jobs.c.id, sort_by_parameter_order=True),
            [self._insert_values(new, turn) for new, turn in zip(news, rounds, strict=True)],
        ).all()
        notify(conn, {new.queue for new in news})
        return [row.id for row in rows]

    def _rounds(self, conn: Connection, news: Sequence[NewJob]) -> list[int]:
        """Each job's fair round: consecutive rounds for one key's jobs, 0 without a key."""
        following: dict[tuple[str, str, int], int] = {}
        rounds = []
        for new in news:
            if new.fair_key is None:
                rounds.append(0)
                continue
            line = (new.fair_key, new.queue, new.priority)
            if line not in following:
                following[line] = next_round(
                    conn,
                    key=new.fair_key,
                    queue=new.queue,
                    priority=new.priority,
                    now=self.clock.now(),
                )
            rounds.append(following[line])
            following[line] += 1
        return rounds

    def _insert_values(self, new: NewJob, fair_round: int) -> dict[str, Any]:
        now = self.clock.now()
        return {
            "queue": new.queue,
            "task": new.task,
            "payload": new.payload,
            "state": JobState.QUEUED.value,
            "priority": new.priority,
            "run_after": new.run_after or now,
            # The store's policy (settings.job_attempts) unless the job names its own.
            "max_attempts": new.max_attempts or self.policy.max_attempts,
            "timeout_s": new.timeout_s if new.timeout_s is not None else self.default_timeout_s,
            "unique_key": new.unique_key,
            "correlation_id": new.correlation_id,
            "cancel_requested": False,
            "created_at": now,
            "updated_at": now,
            "traceparent": tracing.current_traceparent(),
            "fair_key": new.fair_key,
            "fair_limit": new.fair_limit if new.fair_key is not None else None,
            "fair_round": fair_round,
        }

    def _active_by_unique_key(self, conn: Connection, key: str) -> Job:
        row = conn.execute(
            select(jobs).where(jobs.c.unique_key == key, in_state(*ACTIVE_STATES))
        ).one()
        return to_job(row)


@lru_cache(maxsize=128)
def _inserting(dialect: str, queue: str, *, unique: bool, fair: bool) -> Any:
    """A job's ``INSERT … RETURNING``, built once per dialect and queue (the values are
    bound at execution, db/rows.py): building it cost more than running it.  On
    PostgreSQL the queue's NOTIFY is a column of the RETURNING; a keyed job's round is
    worked out in it (``fair``); with a unique key, an active job holding it wins
    (nothing is returned)."""
    on_postgres = dialect == "postgresql"
    notice = (notify_column(queue),) if on_postgres else ()
    dialect_insert = pg_insert if on_postgres else sqlite_insert
    stmt = dialect_insert(jobs)
    if fair:
        stmt = stmt.values(fair_round=round_of_new_job(on_postgres=on_postgres))
    if unique:
        stmt = stmt.on_conflict_do_nothing(
            index_elements=[jobs.c.unique_key], index_where=in_state(*ACTIVE_STATES)
        )
    return stmt.returning(*jobs.c, *notice)

"""Every queue operation as one named method over SQL; the only module that queries ``jobs``.

Each method takes the caller's connection, so a domain row and its job commit together
(enqueue), and a worker can settle finished jobs and claim new ones in one transaction.
Writes on behalf of an attempt are fenced on ``(id, attempt, state='running')``: a
worker that lost its lease matches nothing and learns so (``LeaseLost`` or a refused
``Settled``) instead of overwriting a newer attempt.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from exportd import tracing
from exportd.clock import Clock, SystemClock
from exportd.config import KeepPolicy, Settings
from exportd.db.tables import jobs
from exportd.errors import ErrorInfo, InvalidTransition, JobNotFound, LeaseLost
from exportd.queue.models import ACTIVE_STATES, Claimed, Job, JobState, NewJob, Outcome, Settled
from exportd.queue.retry import RetryPolicy

NOTIFY_CHANNEL = "exportd_jobs"
LEASE_EXPIRED = "lease_expired"


@dataclass(frozen=True, slots=True)
class Enqueued:
    job: Job
    created: bool  # False when an active job with the same unique key already existed


@dataclass(frozen=True, slots=True)
class LeaseReport:
    cancel_requested: frozenset[Claimed]
    lost: frozenset[Claimed]


@dataclass(frozen=True, slots=True)
class QueueStats:
    counts: dict[JobState, int]
    oldest_queued_at: datetime | None


class JobStore:
    def __init__(
        self,
        *,
        policy: RetryPolicy,
        lease_s: float = 30.0,
        default_timeout_s: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.policy = policy
        self.lease = timedelta(seconds=lease_s)
        self.default_timeout_s = default_timeout_s
        self.clock = clock or SystemClock()

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock | None = None) -> JobStore:
        policy = RetryPolicy(
            max_attempts=settings.job_attempts,
            base_s=settings.job_backoff_ms / 1000,
            cap_s=settings.job_backoff_cap_ms / 1000,
        )
        return cls(policy=policy, lease_s=settings.job_lease_s, clock=clock)

    # -- producers ---------------------------------------------------------------------

    def enqueue(self, conn: Connection, new: NewJob) -> Enqueued:
        """Insert a job in the caller's transaction; an active duplicate unique key wins."""
        attributes = {"exportd.job.task": new.task, "exportd.job.queue": new.queue}
        with tracing.span("exportd.queue.enqueue", attributes, kind="producer") as span:
            enqueued = self._enqueue(conn, new)
            span.set("exportd.job.id", enqueued.job.id)
            span.set("exportd.job.created", enqueued.created)
        return enqueued

    def _enqueue(self, conn: Connection, new: NewJob) -> Enqueued:
        values = self._insert_values(new)
        row: Row[Any] | None
        if new.unique_key is None:
            row = conn.execute(insert(jobs).values(values).returning(*jobs.c)).one()
        else:
            row = self._insert_unique(conn, values)
        if row is None:
            assert new.unique_key is not None
            return Enqueued(self._active_by_unique_key(conn, new.unique_key), created=False)
        self._notify(conn, {new.queue})
        return Enqueued(_to_job(row), created=True)

    def enqueue_many(self, conn: Connection, news: Sequence[NewJob]) -> list[int]:
        """Insert many jobs with one statement (unique keys are not supported here)."""
        if not news:
            return []
        if any(new.unique_key for new in news):
            raise ValueError("enqueue_many does not take unique keys; use enqueue")
        rows = conn.execute(
            insert(jobs).returning(jobs.c.id, sort_by_parameter_order=True),
            [self._insert_values(new) for new in news],
        ).all()
        self._notify(conn, {new.queue for new in news})
        return [row.id for row in rows]

    def _insert_values(self, new: NewJob) -> dict[str, Any]:
        now = self.clock.now()
        return {
            "queue": new.queue,
            "task": new.task,
            "payload": new.payload,
            "state": JobState.QUEUED.value,
            "priority": new.priority,
            "run_after": new.run_after or now,
            "max_attempts": new.max_attempts or self.policy.max_attempts,
            "timeout_s": new.timeout_s if new.timeout_s is not None else self.default_timeout_s,
            "unique_key": new.unique_key,
            "correlation_id": new.correlation_id,
            "cancel_requested": False,
            "created_at": now,
            "updated_at": now,
            "traceparent": tracing.current_traceparent(),
        }

    def _insert_unique(self, conn: Connection, values: dict[str, Any]) -> Row[Any] | None:
        dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        stmt = (
            dialect_insert(jobs)
            .values(values)
            .on_conflict_do_nothing(
                index_elements=[jobs.c.unique_key],
                index_where=_in_state(*ACTIVE_STATES),
            )
            .returning(*jobs.c)
        )
        return conn.execute(stmt).first()

    def _active_by_unique_key(self, conn: Connection, key: str) -> Job:
        row = conn.execute(
            select(jobs).where(jobs.c.unique_key == key, _in_state(*ACTIVE_STATES))
        ).one()
        return _to_job(row)

    def _notify(self, conn: Connection, queues: Iterable[str]) -> None:
        # Delivered by PostgreSQL at commit, never for a rolled-back enqueue.
        if conn.dialect.name == "postgresql":
            for queue in sorted(queues):
                conn.execute(select(func.pg_notify(NOTIFY_CHANNEL, queue)))

    # -- workers -----------------------------------------------------------------------

    def has_ready(self, conn: Connection, *, queues: Sequence[str]) -> bool:
        """A cheap read before taking SQLite's write lock for a claim."""
        query = select(jobs.c.id).where(
            _in_state(JobState.QUEUED),
            jobs.c.queue.in_(queues),
            jobs.c.run_after <= self.clock.now(),
        )
        return conn.execute(query.limit(1)).first() is not None

    def claim(
        self, conn: Connection, *, worker_id: str, queues: Sequence[str], limit: int
    ) -> list[Job]:
        """Take up to ``limit`` ready jobs, in priority, run_after, id order."""
        if limit <= 0:
            return []
        now = self.clock.now()
        params = {
            "queues": list(queues),
            "now": now,
            "limit": limit,
            "worker_id": worker_id,
            "lease_expires_at": now + self.lease,
        }
        stmt = _CLAIM_POSTGRES if conn.dialect.name == "postgresql" else _CLAIM_SQLITE
        claimed = [_to_job(row) for row in conn.execute(stmt, params)]
        return sorted(claimed, key=lambda job: (job.priority, job.run_after, job.id))

    def extend_leases(self, conn: Connection, claims: Iterable[Claimed]) -> LeaseReport:
        """Heartbeat: push the leases of held attempts forward; report lost ones."""
        held = set(claims)
        if not held:
            return LeaseReport(frozenset(), frozenset())
        rows = conn.execute(
            update(jobs)
            .where(_in_state(JobState.RUNNING), _fence_in(held))
            .values(lease_expires_at=self.clock.now() + self.lease)
            .returning(jobs.c.id, jobs.c.attempt, jobs.c.cancel_requested)
        ).all()
        alive = {Claimed(row.id, row.attempt): row.cancel_requested for row in rows}
        return LeaseReport(
            cancel_requested=frozenset(c for c, wanted in alive.items() if wanted),
            lost=frozenset(held - alive.keys()),
        )

    def cancels_requested(self, conn: Connection, claims: Iterable[Claimed]) -> frozenset[Claimed]:
        """Which of these running attempts were asked to stop (a read, no lease change)."""
        held = set(claims)
        if not held:
            return frozenset()
        rows = conn.execute(
            select(jobs.c.id, jobs.c.attempt).where(
                _in_state(JobState.RUNNING), _fence_in(held), jobs.c.cancel_requested.is_(True)
            )
        )
        return frozenset(Claimed(row.id, row.attempt) for row in rows)

    def record_progress(self, conn: Connection, claim: Claimed, progress: dict[str, Any]) -> bool:
        """Store progress; returns whether cancellation was requested.  Fenced."""
        row = conn.execute(
            update(jobs)
            .where(_fence(claim))
            .values(progress=progress, updated_at=self.clock.now())
            .returning(jobs.c.cancel_requested)
        ).first()
        if row is None:
            raise LeaseLost(f"job {claim.job_id} attempt {claim.attempt} no longer holds its lease")
        return bool(row.cancel_requested)

    def settle(self, conn: Connection, outcome: Outcome) -> Settled:
        """Record how an attempt ended: completed, cancelled, retried later, or failed.

        Cancellation requested before the outcome is recorded wins over success as it
        does over failure: whoever was told "cancelling" (a 202) never finds the job
        completed, and the result (a file) is not kept."""
        if outcome.cancelled:
            return self._finish(conn, outcome.claim, JobState.CANCELLED)
        if outcome.error is None:
            completed = self._finish(
                conn,
                outcome.claim,
                JobState.COMPLETED,
                result=outcome.result,
                unless_cancelled=True,
            )
            if completed.state is not None:
                return completed
            return self._finish(conn, outcome.claim, JobState.CANCELLED)
        return self._fail(conn, outcome.claim, outcome.error, outcome.result)

    def settle_many(self, conn: Connection, outcomes: Sequence[Outcome]) -> list[Settled]:
        """Settle many outcomes; plain successes share one fenced statement."""
        plain = {o.claim for o in outcomes if o.succeeded and o.result is None}
        done: dict[Claimed, Settled] = {}
        if plain:
            now = self.clock.now()
            rows = conn.execute(
                update(jobs)
                .where(
                    _in_state(JobState.RUNNING),
                    _fence_in(plain),
                    jobs.c.cancel_requested.is_(False),
                )
                .values(
                    state=JobState.COMPLETED.value,
                    finished_at=now,
                    updated_at=now,
                    lease_expires_at=None,
                )
                .returning(jobs.c.id, jobs.c.attempt, jobs.c.task)
            ).all()
            for row in rows:
                claim = Claimed(row.id, row.attempt)
                done[claim] = Settled(claim=claim, state=JobState.COMPLETED, task=row.task)
        # The rest one by one: a plain success left over was cancelled meanwhile (or
        # its lease was lost, which ``settle`` reports as refused).
        return [done[o.claim] if o.claim in done else self.settle(conn, o) for o in outcomes]

    def _finish(
        self,
        conn: Connection,
        claim: Claimed,
        state: JobState,
        *,
        result: dict[str, Any] | None = None,
        unless_cancelled: bool = False,
    ) -> Settled:
        now = self.clock.now()
        values: dict[str, Any] = {
            "state": state.value,
            "finished_at": now,
            "updated_at": now,
            "lease_expires_at": None,
        }
        if result is not None:
            values["result"] = result
        fence = _fence(claim)
        if unless_cancelled:
            fence = and_(fence, jobs.c.cancel_requested.is_(False))
        row = conn.execute(update(jobs).where(fence).values(values).returning(jobs.c.task)).first()
        if row is None:
            return Settled(claim=claim, state=None)
        return Settled(claim=claim, state=state, task=row.task)

    def _fail(
        self,
        conn: Connection,
        claim: Claimed,
        error: ErrorInfo,
        result: dict[str, Any] | None = None,
    ) -> Settled:
        """Requeue the attempt or fail the job; a final failure keeps what the attempt
        still produced (``result``), a requeued one does not."""
        query = select(
            jobs.c.task, jobs.c.attempts_used, jobs.c.max_attempts, jobs.c.cancel_requested
        ).where(_fence(claim))
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            return Settled(claim=claim, state=None)
        if row.cancel_requested:
            return self._finish(conn, claim, JobState.CANCELLED)
        delay = self.policy.next_delay(
            row.attempts_used, retryable=error.retryable, max_attempts=row.max_attempts
        )
        now = self.clock.now()
        values: dict[str, Any] = {
            "error": error.as_dict(),
            "updated_at": now,
            "lease_expires_at": None,
            "worker_id": None,
        }
        if delay is None:
            values |= {"state": JobState.FAILED.value, "finished_at": now}
            if result is not None:
                values["result"] = result
        else:
            values |= {"state": JobState.QUEUED.value, "run_after": now + timedelta(seconds=delay)}
        conn.execute(update(jobs).where(_fence(claim)).values(values))
        state = JobState.FAILED if delay is None else JobState.QUEUED
        return Settled(claim=claim, state=state, task=row.task, retry_in_s=delay, error=error)

    def release(self, conn: Connection, claims: Iterable[Claimed]) -> int:
        """Hand unfinished attempts back (graceful shutdown): queued again, attempt refunded."""
        held = set(claims)
        if not held:
            return 0
        now = self.clock.now()
        fence = and_(_in_state(JobState.RUNNING), _fence_in(held))
        cancelled = conn.execute(
            update(jobs)
            .where(fence, jobs.c.cancel_requested.is_(True))
            .values(state="cancelled", finished_at=now, updated_at=now, lease_expires_at=None)
        ).rowcount
        requeued = conn.execute(
            update(jobs)
            .where(fence)
            .values(
                state=JobState.QUEUED.value,
                attempts_used=jobs.c.attempts_used - 1,
                run_after=now,
                worker_id=None,
                lease_expires_at=None,
                updated_at=now,
            )
        ).rowcount
        return int(cancelled + requeued)

    def reap_expired(self, conn: Connection, *, limit: int = 100) -> list[Settled]:
        """Jobs whose worker stopped heartbeating: retried through the policy, or failed."""
        query = (
            select(jobs.c.id, jobs.c.attempt)
            .where(_in_state(JobState.RUNNING), jobs.c.lease_expires_at < self.clock.now())
            .order_by(jobs.c.lease_expires_at)
            .limit(limit)
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        error = ErrorInfo(LEASE_EXPIRED, "the worker running this job stopped responding", True)
        return [
            self._fail(conn, Claimed(row.id, row.attempt), error) for row in conn.execute(query)
        ]

    # -- owners and operators ----------------------------------------------------------

    def get(self, conn: Connection, job_id: int) -> Job:
        row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
        if row is None:
            raise JobNotFound(f"no job with id {job_id}")
        return _to_job(row)

    def cancel(self, conn: Connection, job_id: int) -> JobState:
        """Queued: cancelled at once.  Running: cancellation requested (state stays running)."""
        now = self.clock.now()
        done = conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id, _in_state(JobState.QUEUED))
            .values(state="cancelled", finished_at=now, updated_at=now)
            .returning(jobs.c.id)
        ).first()
        if done is not None:
            return JobState.CANCELLED
        requested = conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id, _in_state(JobState.RUNNING))
            .values(cancel_requested=True, updated_at=now)
            .returning(jobs.c.queue)
        ).first()
        if requested is not None:
            # Wakes the workers, which then look for cancel requests among their jobs:
            # the child hears of it before its next batch, not at a heartbeat.
            self._notify(conn, {requested.queue})
            return JobState.RUNNING
        job = self.get(conn, job_id)
        raise InvalidTransition(f"job {job_id} is {job.state.value} and cannot be cancelled")

    def requeue(self, conn: Connection, job_id: int) -> Job:
        """Take a failed job out of the dead letter with a fresh attempt budget."""
        now = self.clock.now()
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
        self._notify(conn, {row.queue})
        return _to_job(row)

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
        return [_to_job(row) for row in conn.execute(query)]

    def stats(self, conn: Connection) -> QueueStats:
        counts = {state: 0 for state in JobState}
        for row in conn.execute(select(jobs.c.state, func.count()).group_by(jobs.c.state)):
            counts[JobState(row[0])] = row[1]
        oldest = conn.execute(
            select(func.min(jobs.c.run_after)).where(_in_state(JobState.QUEUED))
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


def _claim_statement(*, skip_locked: bool) -> Any:
    """The claim, built once: on the hot path, building the construct costs more than
    running it.  Parameters: queues, now, limit, worker_id, lease_expires_at."""
    candidates = (
        select(jobs.c.id)
        .where(
            _in_state(JobState.QUEUED),
            jobs.c.queue.in_(bindparam("queues", expanding=True)),
            jobs.c.run_after <= bindparam("now"),
        )
        .order_by(jobs.c.priority, jobs.c.run_after, jobs.c.id)
        .limit(bindparam("limit"))
    )
    if skip_locked:
        candidates = candidates.with_for_update(skip_locked=True)
    return (
        update(jobs)
        .where(jobs.c.id.in_(candidates.scalar_subquery()))
        .values(
            state=literal_column(f"'{JobState.RUNNING.value}'"),
            attempt=jobs.c.attempt + 1,
            attempts_used=jobs.c.attempts_used + 1,
            worker_id=bindparam("worker_id"),
            lease_expires_at=bindparam("lease_expires_at"),
            started_at=bindparam("now"),
            updated_at=bindparam("now"),
        )
        .returning(*jobs.c)
    )


def _in_state(*states: JobState) -> ColumnElement[bool]:
    """A state filter written as SQL literals, not bound parameters.

    A bound ``state = $1`` hides the value from PostgreSQL's generic plans (psycopg
    prepares statements after a few runs), so the partial indexes on ``state`` would
    go unused and every claim would scan the table.
    """
    literals: list[ColumnElement[Any]] = [
        literal_column(f"'{JobState(state).value}'") for state in states
    ]
    if len(literals) == 1:
        return jobs.c.state == literals[0]
    return jobs.c.state.in_(literals)


def _fence(claim: Claimed) -> Any:
    return and_(
        jobs.c.id == claim.job_id,
        jobs.c.attempt == claim.attempt,
        _in_state(JobState.RUNNING),
    )


def _fence_in(claims: Iterable[Claimed]) -> Any:
    return tuple_(jobs.c.id, jobs.c.attempt).in_([(c.job_id, c.attempt) for c in claims])


def _to_job(row: Row[Any]) -> Job:
    values = dict(row._mapping)
    values["state"] = JobState(values["state"])
    values["cancel_requested"] = bool(values["cancel_requested"])
    return Job(**values)


_CLAIM_POSTGRES = _claim_statement(skip_locked=True)
_CLAIM_SQLITE = _claim_statement(skip_locked=False)

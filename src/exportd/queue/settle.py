"""How attempts end: completed, cancelled, retried later, failed, handed back, reaped.

Every write here is fenced on ``(id, attempt, state='running')``: a worker that lost its
lease matches nothing and its outcome is refused instead of overwriting a newer attempt.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, and_, select, update

from exportd.clock import Clock
from exportd.db.tables import jobs
from exportd.errors import ErrorInfo
from exportd.queue.models import Claimed, JobState, Outcome, Settled
from exportd.queue.retry import RetryPolicy
from exportd.queue.sql import BOUND_FENCE, LEASE_EXPIRED, fence, fence_in, fence_params, in_state


class Settling:
    """``JobStore``'s settling methods (see :mod:`exportd.queue.store`)."""

    policy: RetryPolicy
    clock: Clock

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
                    in_state(JobState.RUNNING),
                    fence_in(plain),
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
        values |= fence_params(claim)
        stmt = _FINISH_UNLESS_CANCELLED if unless_cancelled else _FINISH
        row = conn.execute(stmt, values).first()
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
        ).where(fence(claim))
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
        conn.execute(update(jobs).where(fence(claim)).values(values))
        state = JobState.FAILED if delay is None else JobState.QUEUED
        return Settled(claim=claim, state=state, task=row.task, retry_in_s=delay, error=error)

    def release(self, conn: Connection, claims: Iterable[Claimed]) -> int:
        """Hand unfinished attempts back (graceful shutdown): queued again, attempt refunded."""
        held = set(claims)
        if not held:
            return 0
        now = self.clock.now()
        fenced = and_(in_state(JobState.RUNNING), fence_in(held))
        cancelled = conn.execute(
            update(jobs)
            .where(fenced, jobs.c.cancel_requested.is_(True))
            .values(state="cancelled", finished_at=now, updated_at=now, lease_expires_at=None)
        ).rowcount
        requeued = conn.execute(
            update(jobs)
            .where(fenced)
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
            .where(in_state(JobState.RUNNING), jobs.c.lease_expires_at < self.clock.now())
            .order_by(jobs.c.lease_expires_at)
            .limit(limit)
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        error = ErrorInfo(LEASE_EXPIRED, "the worker running this job stopped responding", True)
        return [
            self._fail(conn, Claimed(row.id, row.attempt), error) for row in conn.execute(query)
        ]


# Every attempt ends through one of these: built once, the values (and so the SET
# clause) bound at execution.
_FINISH = update(jobs).where(BOUND_FENCE).returning(jobs.c.task)
_FINISH_UNLESS_CANCELLED = _FINISH.where(jobs.c.cancel_requested.is_(False))

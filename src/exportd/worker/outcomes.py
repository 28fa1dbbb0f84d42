"""Finished attempts: settled in the supervisor's transaction (with their task's settle
hook), their unkept results handed to the app's discard hooks, one log line each."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from exportd import tracing
from exportd.db import Database
from exportd.errors import ErrorInfo, JobError, classify
from exportd.ops import metrics
from exportd.queue.app import App, WorkerContext
from exportd.queue.models import JobState, Outcome, Settled
from exportd.queue.tasks import SettledHook

log = structlog.get_logger("exportd.worker")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Finished:
    """An attempt's outcome waiting to be recorded, with what its log line needs."""

    outcome: Outcome
    task: str
    correlation_id: str | None
    duration_s: float


class _HookFailed(Exception):
    """A settle hook failed outside a savepoint: what it wrote may be half done."""


class Outcomes:
    def __init__(self, app: App, context: WorkerContext) -> None:
        self.app = app
        self.context = context
        self.store = context.store

    def settle_then(
        self, db: Database, pending: list[Finished], then: Callable[[Connection], T]
    ) -> tuple[list[Settled], T]:
        """One transaction: ``pending`` settled, then ``then`` (the next claim).  The
        hooks run bare: a savepoint around each cost two round trips an export on
        PostgreSQL.  When one fails, the transaction is rolled back and run again with
        each hook in a savepoint, so that a failing hook undoes its own writes alone."""
        with contextlib.suppress(_HookFailed), db.write() as conn:
            return self.settle_all(conn, pending, guarded=False), then(conn)
        with db.write() as conn:
            return self.settle_all(conn, pending), then(conn)

    def settle_all(
        self, conn: Connection, pending: list[Finished], *, guarded: bool = True
    ) -> list[Settled]:
        plain = [f.outcome for f in pending if self._hook(f.task) is None]
        by_claim = {s.claim: s for s in self.store.settle_many(conn, plain)}
        return [
            by_claim[f.outcome.claim]
            if f.outcome.claim in by_claim
            else self._settle(conn, f, guarded=guarded)
            for f in pending
        ]

    def _hook(self, task_name: str) -> SettledHook | None:
        task = self.app.tasks.find(task_name)
        return task.on_settled if task else None

    def _settle(self, conn: Connection, finished: Finished, *, guarded: bool) -> Settled:
        # In the attempt's trace: what the hook enqueues (a webhook) joins it.
        with tracing.attached(finished.outcome.traceparent):
            if guarded:
                return self._settle_with_hook(conn, finished)
            return self._settle_bare(conn, finished)

    def _settle_bare(self, conn: Connection, finished: Finished) -> Settled:
        """Settle with the task's hook, no savepoint: a failing hook fails the transaction."""
        settled = self.store.settle(conn, finished.outcome)
        if settled.accepted:
            hook = self._hook(finished.task)
            assert hook is not None
            try:
                hook(conn, settled, self.context)
            except SQLAlchemyError:
                raise  # the transaction's failure, as in a savepoint
            except Exception as exc:
                raise _HookFailed from exc
        return settled

    def _settle_with_hook(self, conn: Connection, finished: Finished) -> Settled:
        """Settle with the task's hook, in a savepoint."""
        outcome = finished.outcome
        hook = self._hook(finished.task)
        assert hook is not None
        try:
            # A savepoint, so a failing hook undoes its own writes and nothing else.
            with conn.begin_nested():
                settled = self.store.settle(conn, outcome)
                if settled.accepted:
                    hook(conn, settled, self.context)
            return settled
        except SQLAlchemyError:
            raise
        except JobError as exc:  # the hook refused the outcome (a quota decided at settle)
            refused = Outcome(claim=outcome.claim, error=classify(exc))
            with conn.begin_nested():
                settled = self.store.settle(conn, refused)
                if settled.accepted:
                    hook(conn, settled, self.context)
            return settled
        except Exception as exc:  # a domain hook failed: fail the attempt, keep the queue moving
            log.exception(
                "worker.settle_hook_failed", job_id=outcome.claim.job_id, error=type(exc).__name__
            )
            detail = classify(exc).message
            error = ErrorInfo("internal_error", f"recording the outcome failed: {detail}", True)
            return self.store.settle(conn, Outcome(claim=outcome.claim, error=error))

    def discard_unkept(self, finished: Finished, settled: Settled) -> None:
        """A result whose outcome was not kept (a late, fenced-off attempt, a result the
        settle hook refused, a partial result of an attempt that will be retried) goes to
        the discard hooks now: a file it names is removed at once, not at the next sweep."""
        outcome = finished.outcome
        if outcome.error is None:  # kept only if completed: not when cancelled meanwhile
            kept = settled.state is JobState.COMPLETED and settled.error is None
        else:  # a partial result is kept with a final failure only
            kept = settled.state is JobState.FAILED
        if not outcome.result or kept:
            return
        for discard in self.app.discard_hooks:
            try:
                discard(outcome, self.context)
            except Exception:  # a hook's failure must not stop the worker
                log.exception("worker.discard_hook_failed", job_id=outcome.claim.job_id)


def log_outcome(finished: Finished, settled: Settled) -> None:
    outcome = finished.outcome
    fields: dict[str, Any] = {
        "job_id": outcome.claim.job_id,
        "attempt": outcome.claim.attempt,
        "task": finished.task,
        "correlation_id": finished.correlation_id,
        "duration_ms": round(finished.duration_s * 1000, 1),
    }
    if settled.state is None:
        log.warning("job.outcome_refused", **fields, reason="lease lost")
        return
    metrics.JOB_RUN.labels(finished.task, settled.state.value).observe(finished.duration_s)
    if outcome.error is not None:
        fields["error_code"] = outcome.error.code
    if settled.state is JobState.FAILED:
        # The code only: a task's message may quote the data it choked on.
        log.error("job.failed", **fields)
    elif settled.state is JobState.QUEUED:
        log.warning("job.retrying", **fields, retry_in_s=round(settled.retry_in_s or 0, 3))
    else:
        log.info(f"job.{settled.state.value}", **fields)

"""Workers' side of the store: claims, leases and progress of held attempts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from exportd.clock import Clock
from exportd.db.tables import jobs
from exportd.errors import LeaseLost
from exportd.queue.fair import claim_statement, keep_within_limits
from exportd.queue.models import Claimed, Job, JobState
from exportd.queue.sql import fence, fence_in, in_state, not_paused, to_job

# Candidates a claim reads beyond the jobs it may take (as many again, at most this
# many): room for limited keys' surplus to be passed over without leaving the batch
# short.  Few: on PostgreSQL every candidate is row-locked until the claim commits (a
# write to its tuple, and concurrent claimers skip it).
SCAN_EXTRA = 8

# Whether any job is ready, built once: a SQLite worker asks after every commit it hears
# of (its own too), and building the construct cost it more than running it.
_ANY_READY = (
    select(jobs.c.id)
    .where(
        in_state(JobState.QUEUED),
        jobs.c.queue.in_(bindparam("queues", expanding=True)),
        jobs.c.run_after <= bindparam("now"),
        not_paused(jobs.c.queue),
    )
    .limit(1)
)


@dataclass(frozen=True, slots=True)
class LeaseReport:
    cancel_requested: frozenset[Claimed]
    lost: frozenset[Claimed]


class Claiming:
    """``JobStore``'s worker methods (see :mod:`exportd.queue.store`)."""

    lease: timedelta
    clock: Clock

    def has_ready(self, conn: Connection, *, queues: Sequence[str]) -> bool:
        """A cheap read before taking SQLite's write lock for a claim."""
        params = {"queues": list(queues), "now": self.clock.now()}
        return conn.execute(_ANY_READY, params).first() is not None

    def claim(
        self, conn: Connection, *, worker_id: str, queues: Sequence[str], limit: int
    ) -> list[Job]:
        """Take up to ``limit`` ready jobs of queues not paused: by priority, then keys
        in turn (fair round), then run_after and id; no key beyond its limit."""
        if limit <= 0:
            return []
        now = self.clock.now()
        params = {
            "queues": list(queues),
            "now": now,
            "scan": limit + min(limit, SCAN_EXTRA),
            "limit": limit,
            "worker_id": worker_id,
            "lease_expires_at": now + self.lease,
        }
        stmt = _CLAIM_POSTGRES if conn.dialect.name == "postgresql" else _CLAIM_SQLITE
        claimed = sorted(
            (to_job(row) for row in conn.execute(stmt, params)),
            key=lambda job: (job.priority, job.fair_round, job.run_after, job.id),
        )
        return keep_within_limits(conn, claimed, now)

    def extend_leases(self, conn: Connection, claims: Iterable[Claimed]) -> LeaseReport:
        """Heartbeat: push the leases of held attempts forward; report lost ones."""
        held = set(claims)
        if not held:
            return LeaseReport(frozenset(), frozenset())
        rows = conn.execute(
            update(jobs)
            .where(in_state(JobState.RUNNING), fence_in(held))
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
                in_state(JobState.RUNNING), fence_in(held), jobs.c.cancel_requested.is_(True)
            )
        )
        return frozenset(Claimed(row.id, row.attempt) for row in rows)

    def record_progress(self, conn: Connection, claim: Claimed, progress: dict[str, Any]) -> bool:
        """Store progress; returns whether cancellation was requested.  Fenced."""
        row = conn.execute(
            update(jobs)
            .where(fence(claim))
            .values(progress=progress, updated_at=self.clock.now())
            .returning(jobs.c.cancel_requested)
        ).first()
        if row is None:
            raise LeaseLost(f"job {claim.job_id} attempt {claim.attempt} no longer holds its lease")
        return bool(row.cancel_requested)

    def record_progress_of(
        self, conn: Connection, progress: dict[Claimed, dict[str, Any]]
    ) -> LeaseReport:
        """Store each held attempt's progress: which of them were asked to stop, and
        which no longer hold their lease."""
        cancel, lost = set(), set()
        for claim, data in progress.items():
            try:
                if self.record_progress(conn, claim, data):
                    cancel.add(claim)
            except LeaseLost:
                lost.add(claim)
        return LeaseReport(frozenset(cancel), frozenset(lost))


_CLAIM_POSTGRES = claim_statement(skip_locked=True)
_CLAIM_SQLITE = claim_statement(skip_locked=False)

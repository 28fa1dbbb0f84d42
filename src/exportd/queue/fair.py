"""Fair turns between keys (owners): the round a job is queued in, the claim that takes
rounds in order, and each key's limit of running jobs.

A key's jobs are numbered in rounds as they are queued: the next round after the key's
last active job, and no earlier than one before the round now at the head of the line,
so a key new to the queue gets the next turn and one that queued twenty jobs takes one
per round like everyone else.  The claim is then an index scan in (priority, round,
run_after, id) order.  Jobs without a key are round 0: ahead of keyed jobs of their
priority, in the order they came, as before fairness.

A key's limit (``fair_limit``) is checked in the claim statement from the rows it reads
(exact on SQLite, whose writers go one at a time).  On PostgreSQL two claimers may read
the same count at once, so a claimer that took a limited key's jobs then locks the key
(an advisory lock held to commit), counts again with committed claims in view, and
hands back what went over: no key ever runs more than its limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    bindparam,
    case,
    func,
    literal_column,
    or_,
    select,
    update,
)

from exportd.db.locks import lock_for_transaction
from exportd.db.tables import jobs
from exportd.queue.models import Job, JobState
from exportd.queue.sql import in_state, not_paused

RUNNING: ColumnElement[str] = literal_column(f"'{JobState.RUNNING.value}'")
QUEUED: ColumnElement[str] = literal_column(f"'{JobState.QUEUED.value}'")


def next_round(conn: Connection, *, key: str, queue: str, priority: int, now: datetime) -> int:
    """The round a new job of ``key`` takes in (queue, priority)."""
    params = {"round_key": key, "round_queue": queue, "round_priority": priority, "now": now}
    return int(conn.execute(_ROUNDS[conn.dialect.name == "postgresql"], params).scalar_one())


def round_of_new_job(*, on_postgres: bool) -> ColumnElement[int]:
    """:func:`next_round` as SQL, for the job's own INSERT (one round trip fewer): the
    key's next round, no earlier than one before the queue's head.  It binds
    ``round_key``, ``round_queue``, ``round_priority`` and ``now``."""
    queue: BindParameter[str] = bindparam("round_queue")
    priority: BindParameter[int] = bindparam("round_priority")
    head = select(func.min(jobs.c.fair_round)).where(
        in_state(JobState.QUEUED),
        jobs.c.queue == queue,
        jobs.c.priority == priority,
        jobs.c.fair_round > 0,
        jobs.c.run_after <= bindparam("now"),
    )
    last = select(func.max(jobs.c.fair_round)).where(
        jobs.c.fair_key == bindparam("round_key"),
        in_state(JobState.QUEUED, JobState.RUNNING),
        jobs.c.queue == queue,
        jobs.c.priority == priority,
    )
    # SQLite's max() of several values is its GREATEST (NULLs are coalesced first).
    greatest = func.greatest if on_postgres else func.max
    return greatest(
        1,
        func.coalesce(head.scalar_subquery(), 1) - 1,
        func.coalesce(last.scalar_subquery(), 0) + 1,
    )


# Built once per dialect (every job with a key reads it as it is queued).
_ROUNDS = {pg: select(round_of_new_job(on_postgres=pg)) for pg in (False, True)}


def claim_statement(*, skip_locked: bool) -> Any:
    """The claim, built once: on the hot path, building the construct costs more than
    running it.  Parameters: queues, now, scan, limit, worker_id, lease_expires_at.

    ``scan`` candidates are read (and locked, on PostgreSQL) in claim order, leaving
    out paused queues and keys at their limit; of those, a limited key keeps as many as
    it has room for; the first ``limit`` left are claimed.
    """
    q = jobs.alias("q")
    r = jobs.alias("r")
    running = (
        select(func.count())
        .select_from(r)
        .where(r.c.fair_key == q.c.fair_key, r.c.state == RUNNING)
        .scalar_subquery()
    )
    candidates = (
        select(
            q.c.id,
            q.c.fair_key,
            q.c.fair_limit,
            q.c.priority,
            q.c.fair_round,
            q.c.run_after,
            case((q.c.fair_limit.is_(None), literal_column("0")), else_=running).label("running"),
        )
        .where(
            q.c.state == QUEUED,
            q.c.queue.in_(bindparam("queues", expanding=True)),
            q.c.run_after <= bindparam("now"),
            not_paused(q.c.queue),
            or_(q.c.fair_limit.is_(None), running < q.c.fair_limit),
        )
        .order_by(q.c.priority, q.c.fair_round, q.c.run_after, q.c.id)
        .limit(bindparam("scan"))
    )
    if skip_locked:
        candidates = candidates.with_for_update(skip_locked=True, of=q)
    c = candidates.subquery("c")
    order = (c.c.priority, c.c.fair_round, c.c.run_after, c.c.id)
    turn = func.row_number().over(partition_by=c.c.fair_key, order_by=order)
    ranked = select(
        c.c.id,
        c.c.priority,
        c.c.fair_round,
        c.c.run_after,
        c.c.fair_limit,
        (c.c.running + turn).label("load"),
    ).subquery("ranked")
    chosen = (
        select(ranked.c.id)
        .where(or_(ranked.c.fair_limit.is_(None), ranked.c.load <= ranked.c.fair_limit))
        .order_by(ranked.c.priority, ranked.c.fair_round, ranked.c.run_after, ranked.c.id)
        .limit(bindparam("limit"))
    )
    return (
        update(jobs)
        .where(jobs.c.id.in_(chosen.scalar_subquery()))
        .values(
            state=RUNNING,
            attempt=jobs.c.attempt + 1,
            attempts_used=jobs.c.attempts_used + 1,
            worker_id=bindparam("worker_id"),
            lease_expires_at=bindparam("lease_expires_at"),
            started_at=bindparam("now"),
            updated_at=bindparam("now"),
        )
        .returning(*jobs.c)
    )


def keep_within_limits(conn: Connection, claimed: Sequence[Job], now: datetime) -> list[Job]:
    """PostgreSQL: recount each limited key under its lock; hand back what went over.

    ``claimed`` is in claim order; the last of a key's jobs go back first.  A job handed
    back is queued again as it was (its attempt refunded, its place in line kept)."""
    limited = sorted({job.fair_key for job in claimed if job.fair_key and job.fair_limit})
    if not limited or conn.dialect.name != "postgresql":
        return list(claimed)
    for key in limited:  # sorted: claimers lock keys in one order, never in a cycle
        lock_for_transaction(conn, f"fair:{key}")
    counts: dict[str, int] = {
        row[0]: row[1]
        for row in conn.execute(
            select(jobs.c.fair_key, func.count())
            .where(in_state(JobState.RUNNING), jobs.c.fair_key.in_(limited))
            .group_by(jobs.c.fair_key)
        )
    }
    over: set[int] = set()
    for key in limited:
        mine = [job for job in claimed if job.fair_key == key]
        limit = min(job.fair_limit for job in mine if job.fair_limit)
        surplus = min(counts.get(key, 0) - limit, len(mine))
        if surplus > 0:
            over.update(job.id for job in mine[-surplus:])
    if over:
        conn.execute(
            update(jobs)
            .where(jobs.c.id.in_(sorted(over)), in_state(JobState.RUNNING))
            .values(
                state=QUEUED,
                attempts_used=jobs.c.attempts_used - 1,
                worker_id=None,
                lease_expires_at=None,
                updated_at=now,
            )
        )
    return [job for job in claimed if job.id not in over]

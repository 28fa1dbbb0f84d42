"""What every queue statement shares: state filters, the attempt fence, reading a row,
the wake-up NOTIFY, and the paused-queue filter."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    and_,
    bindparam,
    func,
    literal_column,
    select,
    tuple_,
)

from exportd.db.tables import jobs, queue_states
from exportd.queue.models import Claimed, Job, JobState

NOTIFY_CHANNEL = "exportd_jobs"
LEASE_EXPIRED = "lease_expired"


def in_state(*states: JobState) -> ColumnElement[bool]:
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


def not_paused(queue: ColumnElement[str]) -> ColumnElement[bool]:
    """The job's queue is not paused (a queue without a ``queue_states`` row runs).

    NOT IN over an uncorrelated subquery: read once per statement, not once per row
    (``name`` is the key, never NULL)."""
    paused = select(queue_states.c.name).where(queue_states.c.paused.is_(True))
    return queue.not_in(paused.scalar_subquery())


def fence(claim: Claimed) -> Any:
    return and_(
        jobs.c.id == claim.job_id,
        jobs.c.attempt == claim.attempt,
        in_state(JobState.RUNNING),
    )


# The same fence for a statement built once: the claim bound at execution (fence_params).
BOUND_FENCE = and_(
    jobs.c.id == bindparam("fenced_id"),
    jobs.c.attempt == bindparam("fenced_attempt"),
    in_state(JobState.RUNNING),
)


def fence_params(claim: Claimed) -> dict[str, int]:
    return {"fenced_id": claim.job_id, "fenced_attempt": claim.attempt}


def fence_in(claims: Iterable[Claimed]) -> Any:
    return tuple_(jobs.c.id, jobs.c.attempt).in_([(c.job_id, c.attempt) for c in claims])


NOTIFIED = "notified"


def to_job(row: Row[Any]) -> Job:
    values = dict(row._mapping)
    values.pop(NOTIFIED, None)  # notify_column's, when an insert returned it
    values["state"] = JobState(values["state"])
    values["cancel_requested"] = bool(values["cancel_requested"])
    return Job(**values)


def notify_column(queue: str) -> Any:
    """PostgreSQL's ``notify`` for ``queue`` as a column for an insert's RETURNING (sent
    at commit all the same)."""
    return func.pg_notify(NOTIFY_CHANNEL, queue).label(NOTIFIED)


def notify(conn: Connection, queues: Iterable[str]) -> None:
    # Delivered by PostgreSQL at commit, never for a rolled-back enqueue.
    if conn.dialect.name == "postgresql":
        for queue in sorted(queues):
            conn.execute(select(func.pg_notify(NOTIFY_CHANNEL, queue)))

"""An export's queue job: queued with its owner's fair turn and plan limit, and queued
again when a failed export is retried."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row

from exportd.errors import InvalidTransition
from exportd.exports.models import PlanLimits
from exportd.exports.plans import fair_share, plan_for
from exportd.exports.task import EXPORT_TASK
from exportd.queue import JobStore, NewJob


def export_job(
    export_id: str,
    owner_id: str,
    plan: PlanLimits,
    *,
    correlation_id: str | None,
    priority: int = 0,
) -> NewJob:
    return NewJob(
        task=EXPORT_TASK,
        payload={"export_id": export_id},
        unique_key=f"export:{export_id}",
        correlation_id=correlation_id,
        priority=priority,
        **fair_share(owner_id, plan),
    )


def requeue_export_job(store: JobStore, conn: Connection, row: Row[Any]) -> int:
    """The failed export's job out of the dead letter, or a new one if it was pruned."""
    if row.job_id is not None:
        try:
            return store.requeue(conn, row.job_id).id
        except InvalidTransition:
            pass
    new = export_job(
        row.id, row.owner_id, plan_for(conn, row.plan), correlation_id=row.correlation_id
    )
    return store.enqueue(conn, new).job.id

"""What the supervisor writes onto an export as its job starts and ends: the STARTED
event in the claiming transaction, and the outcome (status, file, expiry, the final
event, deliveries) in the settling one.

Every export passes through both, so their statements are built once, with the values
bound at execution: building and hashing a statement cost more than running it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, Row, bindparam, select, update

from exportd.db.locks import lock_for_transaction
from exportd.db.tables import exports, jobs, plan_limits
from exportd.delivery.jobs import schedule
from exportd.destinations.jobs import schedule as schedule_destinations
from exportd.errors import TerminalJobError
from exportd.exports.artifacts import stored_size
from exportd.exports.models import PlanLimits
from exportd.exports.plans import PLAN_COLUMNS, plan_in
from exportd.exports.quotas import check_result
from exportd.exports.skipping import is_skipped, record_skipped
from exportd.exports.start import Start, read_starts
from exportd.exports.task import EXPORT_TASK
from exportd.ops import events
from exportd.ops.events import EventKind
from exportd.queue.app import WorkerContext
from exportd.queue.models import Job, JobState, Settled

FINAL_EVENTS = {
    JobState.COMPLETED: EventKind.COMPLETED,
    JobState.FAILED: EventKind.FAILED,
    JobState.CANCELLED: EventKind.CANCELLED,
}

# Where record_outcome leaves the export it read, for the hooks after it (schedules).
SETTLED_EXPORT = "exportd.export"

# A settled export with its job's result and times and its plan: one read (the job was
# just settled, in this transaction: it is there; the plan is a foreign key).
_SETTLED = (
    select(
        exports,
        jobs.c.result.label("job_result"),
        jobs.c.created_at.label("job_created_at"),
        jobs.c.started_at.label("job_started_at"),
        *PLAN_COLUMNS,
    )
    .select_from(
        exports.join(jobs, jobs.c.id == exports.c.job_id).join(
            plan_limits, plan_limits.c.name == exports.c.plan
        )
    )
    .where(exports.c.job_id == bindparam("job_id"))
)

# The SET clause comes from the parameters each execution binds.
_UPDATE = update(exports).where(exports.c.id == bindparam("settled_export_id"))
_READ_BACK = select(exports).where(exports.c.id == bindparam("export_id"))


def record_started(conn: Connection, claimed: list[Job], worker: WorkerContext) -> dict[int, Start]:
    """The exports' attempts start, in the transaction that claims them: one write for a
    batch of jobs where each child wrote its own (the SQLite write lock serialised them).
    What each child reads first (its export, plan and the owner's usage) is read here
    with the exports, and handed to it as the job's claim note."""
    attempts = {job.id: job.attempt for job in claimed if job.task == EXPORT_TASK}
    if not attempts:
        return {}
    now = worker.clock.now()
    starts = read_starts(conn, list(attempts), now)
    for job_id, start in starts.items():
        events.record(conn, EventKind.STARTED, now, export=start.export, attempt=attempts[job_id])
    return starts


def record_outcome(conn: Connection, settled: Settled, worker: WorkerContext) -> None:
    """Copy a final outcome onto the export row (the job may be pruned later) and log it."""
    if settled.state is None:
        return
    export = conn.execute(_SETTLED, {"job_id": settled.claim.job_id}).first()
    if export is None:
        return
    settled.notes[SETTLED_EXPORT] = export  # as it was before this outcome
    job = _JobTimes(export.job_result, export.job_created_at, export.job_started_at)
    now = worker.clock.now()
    attempt = settled.claim.attempt
    kind = FINAL_EVENTS.get(settled.state)
    if kind is None:
        if settled.error is not None:  # requeued after a retryable error
            events.record(
                conn,
                EventKind.RETRIED,
                now,
                export=export,
                attempt=attempt,
                error=settled.error,
                detail={"retry_in_s": settled.retry_in_s},
            )
        return
    values: dict[str, Any] = {"status": settled.state.value, "updated_at": now}
    detail: dict[str, Any] = _timings(job, now)
    if settled.state is JobState.COMPLETED and is_skipped(job.result):
        record_skipped(conn, export, now, attempt=attempt, detail=detail)
        return
    plan = plan_in(export)
    if settled.state is JobState.COMPLETED:
        # Two of the owner's exports may finish at once: each passed the quota check
        # alone.  Decide again, one at a time, in the transaction that keeps the file;
        # a TerminalJobError here fails the attempt instead (the file becomes an orphan).
        lock_for_transaction(conn, f"owner:{export.owner_id}")
        check_result(conn, export.owner_id, plan, stored_size(job.result), now)
        values["result"] = job.result
        detail.update(size=stored_size(job.result), row_count=job.result.get("row_count"))
        values["expires_at"] = now + timedelta(days=plan.retention_days)
    elif settled.error is not None:
        values["error"] = settled.error.as_dict()
        partial = job.result or None
        if partial and partial.get("partial") and _partial_fits(conn, export, plan, partial, now):
            values["result"] = partial
            values["expires_at"] = now + timedelta(days=plan.retention_days)
            detail.update(size=partial.get("size"), row_count=partial.get("row_count"))
    conn.execute(_UPDATE, {"settled_export_id": export.id, **values})
    if settled.error is not None and settled.error.stack:
        detail["stack"] = list(settled.error.stack)
    events.record(
        conn,
        kind,
        now,
        export=export,
        attempt=attempt,
        error=settled.error,
        detail=detail,
    )
    if not (export.notify or export.destinations):
        return
    # Emails, webhooks and destinations commit with the outcome they announce, or not at all.
    now_row = conn.execute(_READ_BACK, {"export_id": export.id}).one()
    for deliveries in (schedule, schedule_destinations):
        deliveries(
            conn,
            now_row,
            settled.state,
            store=worker.store,
            attempts=worker.settings.delivery_attempts,
        )


def _partial_fits(
    conn: Connection, export: Row[Any], plan: PlanLimits, partial: dict[str, Any], now: datetime
) -> bool:
    """Whether a failed export's partial file fits the owner's quota (else the orphan
    sweep removes it and the export keeps only its error)."""
    lock_for_transaction(conn, f"owner:{export.owner_id}")
    try:
        check_result(conn, export.owner_id, plan, partial["size"], now)
    except TerminalJobError:
        return False
    return True


class _JobTimes(NamedTuple):
    result: Any  # what the task returned: a dict for an export
    created_at: datetime
    started_at: datetime | None


def _timings(job: _JobTimes, now: datetime) -> dict[str, Any]:
    """Queue wait (created to last start) and run time (last start to now), in ms."""
    if job.started_at is None:
        return {}
    return {
        "wait_ms": round((job.started_at - job.created_at).total_seconds() * 1000, 1),
        "run_ms": round((now - job.started_at).total_seconds() * 1000, 1),
    }

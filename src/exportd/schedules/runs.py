"""One run of a schedule, in the caller's transaction, and the count of its failures.

A due run is claimed by inserting its ``schedule_runs`` row: (schedule_id, due_at) is
unique, so a due time that another node (or an earlier life of this one) already took
inserts nothing and makes no export.  The row and the export commit together or not at
all.  A run whose export is refused (its source is gone, the plan no longer allows its
format, the owner's active exports are all taken) counts as a failure, as does an export
of the schedule that ends ``failed``; ``EXPORTD_SCHEDULE_MAX_FAILURES`` of them in a row
pause the schedule, with its reason and an event.  A run that completes (or is skipped)
resets the count.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from exportd.auth.principal import Principal
from exportd.db.tables import schedule_runs, schedules
from exportd.errors import ExportdError
from exportd.exports.service import ExportService
from exportd.ops import events
from exportd.ops.events import EventKind
from exportd.schedules.models import PausedReason, RunOutcome
from exportd.schedules.requests import from_json


def runner(row: Row[Any]) -> Principal:
    """Who a run acts as: the owner, with the plan and email the schedule last saw (never
    as an admin: a schedule outlives the token that made it)."""
    return Principal(row.owner_id, row.plan, row.owner_email)


def locked(conn: Connection, schedule_id: str) -> Row[Any] | None:
    """The schedule's row, locked until the transaction ends (PostgreSQL; SQLite's write
    transactions already go one at a time)."""
    query = select(schedules).where(schedules.c.id == schedule_id).with_for_update()
    return conn.execute(query).first()


def claim(
    conn: Connection, schedule_id: str, due_at: datetime, *, missed: int, now: datetime
) -> bool:
    """Take the due time for this run; False: it was taken before (nothing to do)."""
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    taken = conn.execute(
        dialect_insert(schedule_runs)
        .values(
            schedule_id=schedule_id,
            due_at=due_at,
            missed=missed,
            outcome=RunOutcome.QUEUED.value,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["schedule_id", "due_at"])
        # Not rowcount: with RETURNING implied, PostgreSQL's driver reports -1 either way.
        .returning(schedule_runs.c.id)
    )
    return taken.first() is not None


def start(conn: Connection, exports: ExportService, row: Row[Any]) -> str:
    """The run's export, queued in ``conn`` (raises the refusal's ExportdError)."""
    return exports.create_in(
        conn,
        runner(row),
        from_json(row.request),
        correlation_id=f"schedule:{row.id}",
        schedule_id=row.id,
        skip_if_empty=row.skip_if_empty,
    )


def record_run(
    conn: Connection,
    row: Row[Any],
    due_at: datetime | None,
    *,
    now: datetime,
    export_id: str | None = None,
    error: ExportdError | None = None,
) -> None:
    """The run's row says what became of it (a run now has no due time: a row of its own)."""
    values: dict[str, Any] = {
        "outcome": (RunOutcome.REFUSED if error else RunOutcome.QUEUED).value,
        "export_id": export_id,
        "error": _error(error) if error else None,
    }
    if due_at is None:
        conn.execute(insert(schedule_runs).values(schedule_id=row.id, created_at=now, **values))
        return
    conn.execute(
        update(schedule_runs)
        .where(schedule_runs.c.schedule_id == row.id, schedule_runs.c.due_at == due_at)
        .values(values)
    )


def failed(
    conn: Connection,
    row: Row[Any],
    error: dict[str, Any],
    *,
    now: datetime,
    max_failures: int,
) -> dict[str, Any]:
    """The schedule's values after one more failed run: paused (with an event) at the
    ``max_failures``-th in a row."""
    failures = row.consecutive_failures + 1
    values: dict[str, Any] = {
        "consecutive_failures": failures,
        "last_error": error,
        "updated_at": now,
    }
    if row.active and failures >= max_failures:
        values.update(active=False, paused_reason=PausedReason.FAILURES.value, paused_at=now)
        events.record(
            conn,
            EventKind.SCHEDULE_PAUSED,
            now,
            export=_labels(row),
            code=error.get("code"),
            message=f"paused after {failures} failed runs in a row",
            detail={"schedule_id": row.id, "failures": failures},
        )
    return values


def refused(
    conn: Connection, row: Row[Any], exc: ExportdError, *, now: datetime, max_failures: int
) -> dict[str, Any]:
    """A run refused when asked for: an event, and one more failure."""
    events.record(
        conn,
        EventKind.SCHEDULE_REFUSED,
        now,
        export=_labels(row),
        code=exc.code,
        message=exc.message,
        detail={"schedule_id": row.id},
    )
    return failed(conn, row, _error(exc), now=now, max_failures=max_failures)


def succeeded(row: Row[Any], *, now: datetime) -> dict[str, Any]:
    """The schedule's values after a run that completed or was skipped."""
    if not row.consecutive_failures and row.last_error is None:
        return {}
    return {"consecutive_failures": 0, "last_error": None, "updated_at": now}


def _error(exc: ExportdError) -> dict[str, Any]:
    return {"code": exc.code, "message": exc.message[:500]}


def _labels(row: Row[Any]) -> dict[str, Any]:
    """The event log's labels for a schedule's event (it has no export)."""
    request = row.request or {}
    return {
        "owner_id": row.owner_id,
        "plan": row.plan,
        "source": request.get("source"),
        "format": request.get("format"),
        "correlation_id": f"schedule:{row.id}",
        "origin": "schedule",
    }

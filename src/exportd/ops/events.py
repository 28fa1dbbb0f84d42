"""The event log: one row per thing that happened to an export, written in the
transaction that made it happen, so every node reads the same history.

Rows carry ids, labels (source, format, plan, reason), an error's code and message and
numbers (durations, sizes) — never row data, secrets or tokens.  Each event also counts
in ``exportd_events_total`` once its transaction commits (see :mod:`exportd.ops.metrics`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Connection, Row, delete, event, insert, select
from sqlalchemy.engine import Engine

from exportd.db.rows import checked
from exportd.db.tables import export_events, exports
from exportd.errors import ErrorInfo
from exportd.queue.models import Settled

log = structlog.get_logger("exportd.events")


class EventKind(enum.StrEnum):
    ENQUEUED = "enqueued"
    STARTED = "started"
    COMPLETED = "completed"
    FAILED = "failed"
    RETRIED = "retried"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    DOWNLOADED = "downloaded"
    EMAIL_SENT = "email_sent"
    EMAIL_FAILED = "email_failed"
    WEBHOOK_SENT = "webhook_sent"
    WEBHOOK_FAILED = "webhook_failed"
    DESTINATION_SENT = "destination_sent"
    DESTINATION_FAILED = "destination_failed"
    CLEANUP_COMPLETED = "cleanup_completed"
    CLEANUP_FAILED = "cleanup_failed"
    LEASE_RESCUED = "lease_rescued"
    ALERT_FIRED = "alert_fired"
    SKIPPED = "skipped"  # a schedule's run found no rows (skip_if_empty): no file
    SCHEDULE_REFUSED = "schedule_refused"  # a schedule's run was refused: no export
    SCHEDULE_PAUSED = "schedule_paused"  # a schedule paused itself after failing N times
    QUEUE_PAUSED = "queue_paused"  # an operator paused a queue (detail: queue, by)
    QUEUE_RESUMED = "queue_resumed"  # an operator resumed a queue (detail: queue, by)
    # An operator's bulk action on dead letters (detail: action, kind, by, count, filter).
    ADMIN_ACTION = "admin_action"


def reason_of(export: Row[Any] | Mapping[str, Any]) -> str:
    """The queue split an export belongs to: a user's own, or an admin's bulk run."""
    origin = _get(export, "origin") or "user"
    return "bulk" if origin == "bulk" else f"{_get(export, 'plan')}-tier-export"


_INSERT = insert(export_events)


def record(
    conn: Connection,
    kind: EventKind,
    at: datetime,
    *,
    export: Row[Any] | Mapping[str, Any] | None = None,
    job_id: int | None = None,
    attempt: int | None = None,
    code: str | None = None,
    message: str | None = None,
    error: ErrorInfo | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    if error is not None:
        code, message = error.code, error.message
    values: dict[str, Any] = {
        "at": at,
        "kind": kind.value,
        "job_id": job_id,
        "attempt": attempt,
        "code": code,
        "message": message[:500] if message else None,
        "detail": detail,
    }
    if export is not None:
        for name in ("owner_id", "source", "format", "plan", "correlation_id"):
            values[name] = _get(export, name)
        values["export_id"] = _get(export, "id")
        values["reason"] = reason_of(export)
        if job_id is None:
            values["job_id"] = _get(export, "job_id")
    conn.execute(_INSERT, checked(export_events, values))  # db/rows.py
    _pending(conn).append(values)


def record_rescue(conn: Connection, settled: Settled, at: datetime) -> None:
    """A job whose worker vanished was taken back (its lease ran out)."""
    export = conn.execute(select(exports).where(exports.c.job_id == settled.claim.job_id)).first()
    record(
        conn,
        EventKind.LEASE_RESCUED,
        at,
        export=export,
        job_id=settled.claim.job_id,
        attempt=settled.claim.attempt,
        detail={"task": settled.task, "state": settled.state.value if settled.state else None},
    )


def prune(conn: Connection, *, before: datetime) -> int:
    return conn.execute(delete(export_events).where(export_events.c.at < before)).rowcount


# -- counting on commit ------------------------------------------------------------------

_PENDING = "exportd.events.pending"


def _pending(conn: Connection) -> list[dict[str, Any]]:
    return conn.info.setdefault(_PENDING, [])  # type: ignore[no-any-return]


@event.listens_for(Engine, "commit")
def _on_commit(conn: Connection) -> None:
    pending = conn.info.pop(_PENDING, None)
    conn.info.pop(_MARKS, None)
    if pending:
        from exportd.ops.metrics import count_events

        count_events(pending)
        for values in pending:
            _log_event(values)


# A log line per committed event, with the event's own fields (no message, no detail:
# an error's message may quote the data it choked on).
LOG_FIELDS = (
    "export_id",
    "job_id",
    "owner_id",
    "attempt",
    "correlation_id",
    "source",
    "format",
    "plan",
    "reason",
    "code",
)


def _log_event(values: dict[str, Any]) -> None:
    fields = {name: values[name] for name in LOG_FIELDS if values.get(name) is not None}
    kind = values["kind"]
    if kind.endswith("_failed") or kind == EventKind.FAILED:
        log.warning(f"event.{kind}", **fields)
    else:
        log.info(f"event.{kind}", **fields)


@event.listens_for(Engine, "rollback")
def _forget_rolled_back(conn: Connection) -> None:
    if conn.invalidated:
        # A lost connection: touching ``info`` would raise PendingRollbackError over the
        # real error, and the pool clears ``info`` when it reconnects anyway.
        return
    conn.info.pop(_PENDING, None)
    conn.info.pop(_MARKS, None)


# A savepoint rolled back takes its own events with it, and only those.
_MARKS = "exportd.events.savepoints"


# Savepoints nest, so their marks are a stack: SQLAlchemy fires "savepoint" before it
# names the savepoint (the name it passes is None), so a mark kept by name was never found.
@event.listens_for(Engine, "savepoint")
def _mark(conn: Connection, name: str | None) -> None:
    conn.info.setdefault(_MARKS, []).append(len(_pending(conn)))


@event.listens_for(Engine, "rollback_savepoint")
def _undo_to_mark(conn: Connection, name: str, context: Any) -> None:
    marks = conn.info.get(_MARKS)
    if marks:
        del _pending(conn)[marks.pop() :]


@event.listens_for(Engine, "release_savepoint")
def _keep(conn: Connection, name: str, context: Any) -> None:
    marks = conn.info.get(_MARKS)
    if marks:
        marks.pop()


def _get(row: Row[Any] | Mapping[str, Any], name: str) -> Any:
    return row.get(name) if isinstance(row, Mapping) else getattr(row, name, None)

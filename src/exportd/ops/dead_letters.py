"""Dead letters as an operator sees them: exports and deliveries that ran out of attempts,
searched by owner, source, format, error code and time, and retried or cancelled all at
once.

A bulk action walks every match in batches by id, one transaction each, so a large one
never holds the database for long; each row is read again under its owner's lock and
skipped if it is no longer dead (a retry by its owner got there first).  The action is
recorded once in the event log, with who did it, what it matched and how many it changed,
even when a batch fails halfway (what was done stays done).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Select, func, select, update

from exportd.auth.principal import Principal
from exportd.clock import Clock, SystemClock
from exportd.db import Database
from exportd.db.locks import lock_for_transaction
from exportd.db.tables import deliveries, exports, jobs
from exportd.delivery.service import DeliveryService
from exportd.destinations import jobs as destination_jobs
from exportd.errors import RequestInvalid
from exportd.exports.cursors import utc
from exportd.exports.models import ExportStatus
from exportd.exports.read_model import JOINED, status_is, status_of
from exportd.exports.service import ExportService
from exportd.ops import events
from exportd.ops.events import EventKind

BATCH = 200
ADMIN_CAUSE = "admin"  # the ``code`` of a retried or cancelled export's event


class Kind(enum.StrEnum):
    EXPORTS = "exports"
    DELIVERIES = "deliveries"


class Action(enum.StrEnum):
    RETRY = "retry"
    CANCEL = "cancel"


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetterFilter:
    """Each one given narrows the match; none given matches every dead letter.
    ``since``/``until``: when it died (``until`` excluded)."""

    owner: str | None = None
    source: str | None = None
    format: str | None = None
    code: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("since", "until"):  # a naive time is read as UTC
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, utc(value, field=name))
        if self.since is not None and self.until is not None and self.since > self.until:
            raise RequestInvalid("`since` is after `until`", code="filter_range_invalid")

    def as_dict(self) -> dict[str, str]:
        """What was asked for, as the event log keeps it."""
        shown = {}
        for name in ("owner", "source", "format", "code", "since", "until"):
            value = getattr(self, name)
            if value is not None:
                shown[name] = value.isoformat() if isinstance(value, datetime) else str(value)
        return shown


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    kind: Kind
    id: str  # the export's, or the delivery's
    export_id: str
    owner_id: str
    source: str
    format: str
    channel: str | None  # a delivery's: email, webhook or destination
    error_code: str | None
    error_message: str | None
    attempts: int  # of its last run (a retry by hand starts a new budget)
    failed_at: datetime


@dataclass(frozen=True, slots=True)
class DeadLetterPage:
    total: int  # every match; ``items`` are the newest of them
    items: list[DeadLetter]


@dataclass(frozen=True, slots=True, kw_only=True)
class BulkResult:
    kind: Kind
    action: Action
    matched: int
    changed: int
    skipped: int  # matched, but no longer dead when its turn came
    batches: int


class DeadLetters:
    def __init__(
        self,
        *,
        db: Database,
        exports_service: ExportService,
        deliveries_service: DeliveryService,
        clock: Clock | None = None,
        batch_size: int = BATCH,
    ) -> None:
        self.db = db
        self.exports = exports_service
        self.deliveries = deliveries_service
        self.clock = clock or SystemClock()
        self.batch_size = batch_size

    def search(self, kind: Kind, wanted: DeadLetterFilter, *, limit: int = 50) -> DeadLetterPage:
        """How many match, and the ``limit`` newest of them (one transaction)."""
        query = self._matching(kind, wanted)
        newest = query.order_by(_failed_at(kind).desc(), _id(kind).desc()).limit(limit)
        with self.db.read() as conn:
            total = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
            rows = conn.execute(newest).all()
        return DeadLetterPage(int(total), [_letter(kind, row) for row in rows])

    def act(
        self, kind: Kind, action: Action, wanted: DeadLetterFilter, *, by: Principal
    ) -> BulkResult:
        """Retry or cancel every dead letter that matches, in batches; one admin event."""
        handle = self._handler(kind, action)
        changed = skipped = batches = 0
        last = ""
        try:
            while True:
                with self.db.write() as conn:
                    query = self._matching(kind, wanted).where(_id(kind) > last)
                    rows = conn.execute(query.order_by(_id(kind)).limit(self.batch_size)).all()
                    for row in rows:
                        if handle(conn, row):
                            changed += 1
                        else:
                            skipped += 1
                if not rows:
                    break
                batches += 1
                last = rows[-1].id
        finally:
            result = BulkResult(
                kind=kind,
                action=action,
                matched=changed + skipped,
                changed=changed,
                skipped=skipped,
                batches=batches,
            )
            self._record(result, wanted, by)
        return result

    # -- the two kinds -----------------------------------------------------------------

    def _matching(self, kind: Kind, wanted: DeadLetterFilter) -> Select[Any]:
        if kind is Kind.EXPORTS:
            query = JOINED.where(
                exports.c.deleted_at.is_(None), status_is(ExportStatus.FAILED, self.clock.now())
            )
        else:
            query = (
                select(deliveries, exports.c.source, exports.c.format)
                .select_from(deliveries.join(exports, exports.c.id == deliveries.c.export_id))
                .where(deliveries.c.status == "failed")
            )
        conditions = {
            "owner": _owner(kind),
            "source": exports.c.source,
            "format": exports.c.format,
            "code": _code(kind),
        }
        for name, column in conditions.items():
            value = getattr(wanted, name)
            if value is not None:
                query = query.where(column == value)
        if wanted.since is not None:
            query = query.where(_failed_at(kind) >= wanted.since)
        if wanted.until is not None:
            query = query.where(_failed_at(kind) < wanted.until)
        return query

    def _handler(self, kind: Kind, action: Action) -> Callable[[Connection, Row[Any]], bool]:
        return {
            (Kind.EXPORTS, Action.RETRY): self._retry_export,
            (Kind.EXPORTS, Action.CANCEL): self._cancel_export,
            (Kind.DELIVERIES, Action.RETRY): self._retry_delivery,
            (Kind.DELIVERIES, Action.CANCEL): self._cancel_delivery,
        }[(kind, action)]

    def _dead_export(self, conn: Connection, export_id: str, owner_id: str) -> Row[Any] | None:
        """The export read again under its owner's lock, if it is still dead."""
        lock_for_transaction(conn, f"owner:{owner_id}")
        row = conn.execute(JOINED.where(exports.c.id == export_id)).first()
        now = self.clock.now()
        if row is None or row.deleted_at is not None:
            return None
        status = status_of(row.status, row.job_state, row.expires_at, now, row.skipped)
        return row if status is ExportStatus.FAILED else None

    def _retry_export(self, conn: Connection, found: Row[Any]) -> bool:
        row = self._dead_export(conn, found.id, found.owner_id)
        if row is None:
            return False
        # An operator's retry skips the owner's cooldown and active-export limit: it is
        # one decision over many exports, and the queue's fair claim spreads them.
        self.exports.requeue_failed(conn, row, cause=ADMIN_CAUSE)
        return True

    def _cancel_export(self, conn: Connection, found: Row[Any]) -> bool:
        row = self._dead_export(conn, found.id, found.owner_id)
        if row is None:
            return False
        # Given up on: it leaves the dead letters, keeps its error, and is never retried.
        conn.execute(
            update(exports)
            .where(exports.c.id == row.id)
            .values(status=ExportStatus.CANCELLED.value, updated_at=self.clock.now())
        )
        events.record(conn, EventKind.CANCELLED, self.clock.now(), export=row, code=ADMIN_CAUSE)
        return True

    def _dead_delivery(self, conn: Connection, found: Row[Any]) -> Row[Any] | None:
        lock_for_transaction(conn, f"owner:{found.owner_id}")
        row = conn.execute(select(deliveries).where(deliveries.c.id == found.id)).first()
        return row if row is not None and row.status == "failed" else None

    def _retry_delivery(self, conn: Connection, found: Row[Any]) -> bool:
        row = self._dead_delivery(conn, found)
        if row is None:
            return False
        self.deliveries.requeue_failed(conn, row)
        return True

    def _cancel_delivery(self, conn: Connection, found: Row[Any]) -> bool:
        row = self._dead_delivery(conn, found)
        if row is None:
            return False
        conn.execute(
            update(deliveries)
            .where(deliveries.c.id == row.id)
            .values(status="cancelled", updated_at=self.clock.now())
        )
        if row.channel == destination_jobs.CHANNEL:
            destination_jobs.mark_cancelled(conn, row)
        return True

    def _record(self, result: BulkResult, wanted: DeadLetterFilter, by: Principal) -> None:
        verb = "retried" if result.action is Action.RETRY else "cancelled"
        detail = {
            "action": result.action.value,
            "kind": result.kind.value,
            "by": by.user_id,
            "count": result.changed,
            "skipped": result.skipped,
            "filter": wanted.as_dict(),
        }
        with self.db.write() as conn:
            events.record(
                conn,
                EventKind.ADMIN_ACTION,
                self.clock.now(),
                code=f"{result.kind.value}.{result.action.value}",
                message=f"{by.user_id} {verb} {result.changed} dead {result.kind.value}",
                detail=detail,
            )


def _id(kind: Kind) -> Any:
    return exports.c.id if kind is Kind.EXPORTS else deliveries.c.id


def _owner(kind: Kind) -> Any:
    return exports.c.owner_id if kind is Kind.EXPORTS else deliveries.c.owner_id


def _failed_at(kind: Kind) -> Any:
    return exports.c.updated_at if kind is Kind.EXPORTS else deliveries.c.updated_at


def _code(kind: Kind) -> Any:
    if kind is Kind.DELIVERIES:
        return deliveries.c.error["code"].as_string()
    # The export's own error once recorded; its job's until then.
    return func.coalesce(exports.c.error["code"].as_string(), jobs.c.error["code"].as_string())


def _letter(kind: Kind, row: Row[Any]) -> DeadLetter:
    if kind is Kind.EXPORTS:
        error = row.error or row.job_error or {}
        export_id, channel, attempts = row.id, None, row.job_attempts_used or 0
    else:
        error = row.error or {}
        export_id, channel, attempts = row.export_id, row.channel, row.attempts
    return DeadLetter(
        kind=kind,
        id=row.id,
        export_id=export_id,
        owner_id=row.owner_id,
        source=row.source,
        format=row.format,
        channel=channel,
        error_code=error.get("code"),
        error_message=error.get("message"),
        attempts=attempts,
        failed_at=row.updated_at,
    )

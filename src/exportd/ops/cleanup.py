"""Cleanup: files of expired or deleted exports, then files nothing refers to.

Order matters: the file is deleted first and the row marked after, so a failed deletion
leaves the row for the next run; a file already gone is fine (cleanup is idempotent).
Orphans (a losing attempt's file, a crash's ``.part``) are removed only once older than
a grace period, so a file written moments before its job settles is never taken.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog
from sqlalchemy import and_, null, or_, select, update

from exportd.clock import Clock, SystemClock
from exportd.db import Database
from exportd.db.tables import exports
from exportd.errors import StorageError
from exportd.exports.artifacts import stored_keys
from exportd.ops import events
from exportd.ops.events import EventKind
from exportd.storage import Storage

# Exports whose result names a stored file: completed ones, and failed ones that kept a
# partial file on request.
_holds_file = or_(
    exports.c.status == "completed",
    and_(exports.c.status == "failed", exports.c.result.is_not(None)),
)
log = structlog.get_logger("exportd.cleanup")


@dataclass
class CleanupReport:
    dry_run: bool
    expired: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "dry_run": self.dry_run,
            "expired_removed": len(self.expired),
            "failed": len(self.failed),
            "orphans_removed": len(self.orphans),
            "expired_export_ids": self.expired,
            "failed_export_ids": self.failed,
            "orphan_keys": self.orphans,
        }


class Cleanup:
    def __init__(
        self,
        *,
        db: Database,
        storage: Storage,
        batch_size: int,
        orphan_grace_s: float,
        clock: Clock | None = None,
    ) -> None:
        self.db = db
        self.storage = storage
        self.batch_size = batch_size
        self.orphan_grace_s = orphan_grace_s
        self.clock = clock or SystemClock()

    def run(self, *, dry_run: bool) -> CleanupReport:
        report = CleanupReport(dry_run=dry_run)
        self._expired(report)
        self._orphans(report)
        if not dry_run:
            kind = EventKind.CLEANUP_FAILED if report.failed else EventKind.CLEANUP_COMPLETED
            counts = {k: v for k, v in report.as_dict().items() if isinstance(v, int)}
            with self.db.write() as conn:
                events.record(conn, kind, self.clock.now(), detail=counts)
        log.info(
            "cleanup.completed" if not report.failed else "cleanup.partial",
            dry_run=dry_run,
            expired=len(report.expired),
            failed=len(report.failed),
            orphans=len(report.orphans),
        )
        return report

    def _expired(self, report: CleanupReport) -> None:
        now = self.clock.now()
        gone = or_(exports.c.expires_at <= now, exports.c.deleted_at.is_not(None))
        query = (
            select(exports)
            .where(and_(_holds_file, gone))
            .order_by(exports.c.expires_at)
            .limit(self.batch_size)
        )
        with self.db.read() as conn:
            due = conn.execute(query).all()
        for row in due:
            if report.dry_run:
                report.expired.append(row.id)
                continue
            try:
                for key in stored_keys(row.result):  # a split export's every part too
                    self.storage.delete(key)
            except (OSError, StorageError) as exc:
                log.warning("cleanup.delete_failed", export_id=row.id, error=type(exc).__name__)
                report.failed.append(row.id)
                continue
            with self.db.write() as conn:
                if row.status == "failed":  # a partial file: the export stays failed
                    marked = conn.execute(
                        update(exports)
                        .where(exports.c.id == row.id, exports.c.status == "failed")
                        .values(result=null(), updated_at=self.clock.now())  # SQL NULL
                    ).rowcount
                else:
                    marked = conn.execute(
                        update(exports)
                        .where(exports.c.id == row.id, exports.c.status == "completed")
                        .values(status="expired", updated_at=self.clock.now())
                    ).rowcount
                if marked:
                    events.record(conn, EventKind.EXPIRED, self.clock.now(), export=row)
            report.expired.append(row.id)

    def _orphans(self, report: CleanupReport) -> None:
        with self.db.read() as conn:
            live = {
                key
                for (result,) in conn.execute(select(exports.c.result).where(_holds_file))
                for key in stored_keys(result)
            }
        for key in self.storage.keys(older_than_s=self.orphan_grace_s):
            if key in live:
                continue
            if not report.dry_run:
                try:
                    self.storage.delete(key)
                except (OSError, StorageError):
                    continue
            report.orphans.append(key)

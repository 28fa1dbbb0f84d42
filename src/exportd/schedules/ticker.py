"""The periodic job that starts due runs (one node at a time: ``app.periodic``).

Each due schedule is handled in a transaction of its own: its row is locked and read
again (another tick may have handled it), :func:`~exportd.schedules.recurrence.decide`
says which one due time to run (the latest passed: a catch-up after an outage is ONE
run), the run claims that due time (a unique row) and queues its export, and the
schedule moves on to its next due time, written only if no one moved it meanwhile.
A database error undoes all of it, and the next tick tries again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Connection, Row, select, update
from sqlalchemy.exc import SQLAlchemyError

from exportd.clock import Clock
from exportd.config import Settings
from exportd.db import Database
from exportd.db.tables import schedules
from exportd.errors import ExportdError
from exportd.exports.service import ExportService
from exportd.schedules import runs
from exportd.schedules.recurrence import Recurrence, decide, parse_every

log = structlog.get_logger("exportd.schedules")


def recurrence_of(schedule: Mapping[Any, Any]) -> Recurrence:
    """The recurrence of a schedule's row (its mapping, or the values it will have)."""
    every = schedule["every"]
    return Recurrence(
        timezone=schedule["timezone"],
        anchor=schedule["anchor_at"],
        cron=schedule["cron"],
        every_s=parse_every(every) if every else None,
    )


@dataclass(frozen=True, slots=True)
class Started:
    """What a tick did with one schedule (for logs and tests)."""

    schedule_id: str
    due_at: datetime
    missed: int
    export_id: str | None
    refused: str | None = None  # the refusal's code


class Ticker:
    def __init__(
        self, *, db: Database, exports: ExportService, settings: Settings, clock: Clock
    ) -> None:
        self.db = db
        self.exports = exports
        self.settings = settings
        self.clock = clock

    def tick(self) -> list[Started]:
        """Start the runs that are due now (at most ``EXPORTD_SCHEDULE_TICK_BATCH``)."""
        if not self.settings.enable_exports:
            return []  # due times wait: one catch-up run each once exports are back
        now = self.clock.now()
        with self.db.read() as conn:
            due = conn.execute(
                select(schedules.c.id)
                .where(schedules.c.active, schedules.c.next_due_at <= now)
                .order_by(schedules.c.next_due_at)
                .limit(self.settings.schedule_tick_batch)
            ).scalars()
            ids = list(due)
        started = [s for s in map(self._guarded, ids) if s is not None]
        for s in started:
            log.info(
                "schedule.run",
                schedule_id=s.schedule_id,
                due_at=s.due_at.isoformat(),
                missed=s.missed,
                export_id=s.export_id,
                refused=s.refused,
            )
        return started

    def _guarded(self, schedule_id: str) -> Started | None:
        """One schedule's fault (a bug, a plugin's exception) does not stop the others';
        a database error does (the next tick tries them all again)."""
        try:
            return self.run_due(schedule_id)
        except SQLAlchemyError:
            raise
        except Exception as exc:
            log.exception("schedule.run_failed", schedule_id=schedule_id, error=type(exc).__name__)
            return None

    def run_due(self, schedule_id: str) -> Started | None:
        now = self.clock.now()
        with self.db.write() as conn:
            row = runs.locked(conn, schedule_id)
            if row is None or not row.active:
                return None
            tick = decide(recurrence_of(row._mapping), row.next_due_at, now)
            if tick is None:
                return None
            values: dict[str, Any] = {
                "next_due_at": tick.next_due_at,
                "last_due_at": tick.due_at,
                "updated_at": now,
            }
            started = None
            if runs.claim(conn, row.id, tick.due_at, missed=tick.missed, now=now):
                started = self._start(conn, row, tick.due_at, tick.missed, now, values)
            conn.execute(
                update(schedules)
                .where(schedules.c.id == row.id, schedules.c.next_due_at == row.next_due_at)
                .values(values)
            )
        return started

    def _start(
        self,
        conn: Connection,
        row: Row[Any],
        due_at: datetime,
        missed: int,
        now: datetime,
        values: dict[str, Any],
    ) -> Started:
        try:
            with conn.begin_nested():  # a refusal undoes its own writes, not the claim
                export_id = runs.start(conn, self.exports, row)
        except ExportdError as exc:
            runs.record_run(conn, row, due_at, now=now, error=exc)
            max_failures = self.settings.schedule_max_failures
            values.update(runs.refused(conn, row, exc, now=now, max_failures=max_failures))
            return Started(row.id, due_at, missed, None, refused=exc.code)
        runs.record_run(conn, row, due_at, now=now, export_id=export_id)
        values.update(last_run_at=now, last_export_id=export_id)
        return Started(row.id, due_at, missed, export_id)

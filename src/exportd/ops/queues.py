"""Operators pause and resume queues (API, CLI): the queue's state, and who did it in
the event log and the logs."""

from __future__ import annotations

import structlog
from sqlalchemy import Connection

from exportd.db import Database
from exportd.ops import events
from exportd.ops.events import EventKind
from exportd.queue.control import QueueControl, QueueState

log = structlog.get_logger("exportd.queues")


class QueueOps:
    def __init__(self, db: Database, control: QueueControl | None = None) -> None:
        self.db = db
        self.control = control or QueueControl()

    def list(self) -> list[QueueState]:
        with self.db.read() as conn:
            return self.control.list(conn)

    def get(self, name: str) -> QueueState:
        with self.db.read() as conn:
            return self.control.get(conn, name)

    def pause(self, name: str, *, by: str) -> QueueState:
        """Stop new claims on the queue; jobs already running finish."""
        with self.db.write() as conn:
            state = self.control.pause(conn, name, by=by)
            self._record(conn, EventKind.QUEUE_PAUSED, name, by)
        log.info("queue.paused", queue=name, by=by)
        return state

    def resume(self, name: str, *, by: str) -> QueueState:
        with self.db.write() as conn:
            state = self.control.resume(conn, name)
            self._record(conn, EventKind.QUEUE_RESUMED, name, by)
        log.info("queue.resumed", queue=name, by=by)
        return state

    def _record(self, conn: Connection, kind: EventKind, name: str, by: str) -> None:
        at = self.control.clock.now()
        verb = "paused" if kind is EventKind.QUEUE_PAUSED else "resumed"
        message = f"{verb} the queue {name}"
        events.record(conn, kind, at, message=message, detail={"queue": name, "by": by})

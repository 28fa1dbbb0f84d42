"""The ``workers`` table: each worker registers at start, heartbeats, and signs off.

Operators read it (``exportd status``) to see which workers are alive; the queue's
correctness never depends on it (leases do that).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from exportd.db.tables import workers


@dataclass(frozen=True, slots=True)
class RunningJob:
    job_id: int
    task: str
    rss_bytes: int  # the child running it, and what it started (a browser, say)


@dataclass(frozen=True, slots=True)
class WorkerLoad:
    """What a worker runs, and the memory of its supervisor and children together."""

    running: Sequence[RunningJob]
    rss_bytes: int

    def as_values(self) -> dict[str, Any]:
        jobs = [
            {"job_id": r.job_id, "task": r.task, "rss_bytes": r.rss_bytes} for r in self.running
        ]
        return {"running_jobs": jobs, "rss_bytes": self.rss_bytes}


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    id: str
    hostname: str
    pid: int
    queues: Sequence[str]
    concurrency: int


def register(conn: Connection, worker: WorkerInfo, now: datetime) -> None:
    values = {
        "id": worker.id,
        "hostname": worker.hostname,
        "pid": worker.pid,
        "queues": list(worker.queues),
        "concurrency": worker.concurrency,
        "started_at": now,
        "last_heartbeat_at": now,
    }
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(insert(workers).values(values).on_conflict_do_nothing())


def heartbeat(
    conn: Connection, worker_id: str, now: datetime, load: WorkerLoad | None = None
) -> None:
    values = {"last_heartbeat_at": now, **(load.as_values() if load is not None else {})}
    conn.execute(update(workers).where(workers.c.id == worker_id).values(**values))


def unregister(conn: Connection, worker_id: str, now: datetime) -> None:
    conn.execute(
        update(workers)
        .where(workers.c.id == worker_id)
        .values(stopped_at=now, running_jobs=None, rss_bytes=None)
    )


def running(conn: Connection) -> list[Row[Any]]:
    """The workers that have not signed off, oldest first."""
    query = select(workers).where(workers.c.stopped_at.is_(None)).order_by(workers.c.started_at)
    return list(conn.execute(query).all())

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


def heartbeat(conn: Connection, worker_id: str, now: datetime) -> None:
    conn.execute(update(workers).where(workers.c.id == worker_id).values(last_heartbeat_at=now))


def unregister(conn: Connection, worker_id: str, now: datetime) -> None:
    conn.execute(update(workers).where(workers.c.id == worker_id).values(stopped_at=now))


def running(conn: Connection) -> list[Row[Any]]:
    """The workers that have not signed off, oldest first."""
    query = select(workers).where(workers.c.stopped_at.is_(None)).order_by(workers.c.started_at)
    return list(conn.execute(query).all())

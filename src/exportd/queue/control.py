"""Pausing and resuming queues: claims skip a paused queue; running jobs finish.

The state is a row in ``queue_states`` (a queue without one runs), so it holds across
restarts and for every node.  A queue is known when it is configured (``default``),
was ever paused or resumed, is one a worker takes jobs from, or has a job queued.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from exportd.clock import Clock, SystemClock
from exportd.db.tables import jobs, queue_states, workers
from exportd.errors import NotFound
from exportd.queue.models import JobState
from exportd.queue.sql import in_state, notify

CONFIGURED = ("default",)


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueState:
    name: str
    paused: bool
    paused_at: datetime | None
    paused_by: str | None
    queued: int
    running: int


class QueueControl:
    def __init__(self, *, clock: Clock | None = None, configured: Iterable[str] = CONFIGURED):
        self.clock = clock or SystemClock()
        self.configured = tuple(configured)

    def list(self, conn: Connection) -> list[QueueState]:
        """Every known queue, by name."""
        states = self._states(conn)
        known = set(self.configured) | states.keys() | self._worker_queues(conn)
        known |= set(
            conn.execute(select(jobs.c.queue).where(in_state(JobState.QUEUED)).distinct()).scalars()
        )
        counts = self._counts(conn)
        return [self._state(name, states, counts) for name in sorted(known)]

    def get(self, conn: Connection, name: str) -> QueueState:
        """One queue; ``queue_unknown`` for a name never configured nor seen."""
        self._known(conn, name)
        return self._state(name, self._states(conn), self._counts(conn, name))

    def pause(self, conn: Connection, name: str, *, by: str) -> QueueState:
        """Stop new claims on ``name`` (jobs already claimed run on)."""
        self._known(conn, name)
        now = self.clock.now()
        self._upsert(conn, name, paused=True, paused_at=now, paused_by=by[:255], updated_at=now)
        return self.get(conn, name)

    def resume(self, conn: Connection, name: str) -> QueueState:
        self._known(conn, name)
        now = self.clock.now()
        self._upsert(conn, name, paused=False, paused_at=None, paused_by=None, updated_at=now)
        notify(conn, {name})  # idle workers claim at once, not at their next poll
        return self.get(conn, name)

    def paused(self, conn: Connection) -> dict[str, bool]:
        """Each queue with a state row, paused or not (the metrics gauge)."""
        rows = conn.execute(select(queue_states.c.name, queue_states.c.paused))
        return {name: bool(paused) for name, paused in rows}

    def _known(self, conn: Connection, name: str) -> None:
        if name in self.configured or name in self._worker_queues(conn):
            return
        for seen in (
            select(queue_states.c.name).where(queue_states.c.name == name),
            select(jobs.c.id).where(in_state(JobState.QUEUED), jobs.c.queue == name).limit(1),
        ):
            if conn.execute(seen).first() is not None:
                return
        raise NotFound(f"no queue named {name!r} is configured or was seen", code="queue_unknown")

    def _upsert(self, conn: Connection, name: str, **values: object) -> None:
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        conn.execute(
            insert(queue_states)
            .values(name=name, **values)
            .on_conflict_do_update(index_elements=[queue_states.c.name], set_=values)
        )

    def _states(self, conn: Connection) -> dict[str, tuple[bool, datetime | None, str | None]]:
        rows = conn.execute(
            select(
                queue_states.c.name,
                queue_states.c.paused,
                queue_states.c.paused_at,
                queue_states.c.paused_by,
            )
        )
        return {row.name: (bool(row.paused), row.paused_at, row.paused_by) for row in rows}

    def _worker_queues(self, conn: Connection) -> set[str]:
        return {q for queues in conn.execute(select(workers.c.queues)).scalars() for q in queues}

    def _counts(self, conn: Connection, name: str | None = None) -> dict[tuple[str, str], int]:
        query = (
            select(jobs.c.queue, jobs.c.state, func.count())
            .where(in_state(JobState.QUEUED, JobState.RUNNING))
            .group_by(jobs.c.queue, jobs.c.state)
        )
        if name is not None:
            query = query.where(jobs.c.queue == name)
        return {(row[0], row[1]): row[2] for row in conn.execute(query)}

    @staticmethod
    def _state(
        name: str,
        states: dict[str, tuple[bool, datetime | None, str | None]],
        counts: dict[tuple[str, str], int],
    ) -> QueueState:
        paused, paused_at, paused_by = states.get(name, (False, None, None))
        return QueueState(
            name=name,
            paused=paused,
            paused_at=paused_at,
            paused_by=paused_by,
            queued=counts.get((name, JobState.QUEUED.value), 0),
            running=counts.get((name, JobState.RUNNING.value), 0),
        )

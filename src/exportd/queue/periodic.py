"""Periodic work that must run on exactly one node at a time, at most once per interval.

A row per task in ``periodic_tasks`` records when it last ran.  PostgreSQL guards the
run with a session advisory lock, released by the server if the node dies; SQLite takes
the row itself as the lock, with an expiry so that a dead node's lock lapses.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Connection, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from exportd.clock import Clock
from exportd.db import Database
from exportd.db.locks import advisory_key
from exportd.db.tables import periodic_tasks


class PeriodicRunner:
    def __init__(self, db: Database, *, node_id: str, clock: Clock, lock_ttl_s: float = 300):
        self.db = db
        self.node_id = node_id
        self.clock = clock
        self.lock_ttl = timedelta(seconds=lock_ttl_s)

    def run_if_due(self, name: str, interval_s: float, work: Callable[[], object]) -> bool:
        """Run ``work`` if ``name`` is due and no other node holds it; True if it ran."""
        if self.db.is_postgres:
            return self._run_postgres(name, interval_s, work)
        return self._run_sqlite(name, interval_s, work)

    def _run_postgres(self, name: str, interval_s: float, work: Callable[[], object]) -> bool:
        key = advisory_key(name)
        with self.db.engine.connect() as lock_conn:
            locked = lock_conn.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": key}
            ).scalar()
            lock_conn.commit()
            if not locked:
                return False
            try:
                with self.db.write() as conn:
                    due = self._is_due(conn, name, interval_s)
                if due:
                    work()
                    self._mark_ran(name)
                return due
            finally:
                lock_conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                lock_conn.commit()

    def _run_sqlite(self, name: str, interval_s: float, work: Callable[[], object]) -> bool:
        now = self.clock.now()
        with self.db.write() as conn:
            if not self._is_due(conn, name, interval_s):
                return False
            taken = conn.execute(
                update(periodic_tasks)
                .where(
                    periodic_tasks.c.name == name,
                    or_(
                        periodic_tasks.c.locked_until.is_(None), periodic_tasks.c.locked_until < now
                    ),
                )
                .values(locked_by=self.node_id, locked_until=now + self.lock_ttl)
            ).rowcount
        if not taken:
            return False
        try:
            work()
            self._mark_ran(name)
        finally:
            with self.db.write() as conn:
                conn.execute(
                    update(periodic_tasks)
                    .where(
                        periodic_tasks.c.name == name, periodic_tasks.c.locked_by == self.node_id
                    )
                    .values(locked_by=None, locked_until=None)
                )
        return True

    def _is_due(self, conn: Connection, name: str, interval_s: float) -> bool:
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        conn.execute(insert(periodic_tasks).values(name=name).on_conflict_do_nothing())
        last = conn.execute(
            select(periodic_tasks.c.last_run_at).where(periodic_tasks.c.name == name)
        ).scalar()
        return last is None or self.clock.now() - last >= timedelta(seconds=interval_s)

    def _mark_ran(self, name: str) -> None:
        with self.db.write() as conn:
            conn.execute(
                update(periodic_tasks)
                .where(periodic_tasks.c.name == name)
                .values(last_run_at=self.clock.now())
            )

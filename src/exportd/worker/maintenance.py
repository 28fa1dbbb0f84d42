"""The periodic work a worker does besides jobs: the reaper on every node; the retention
sweep and the app's periodic jobs (cleanup, alerts) by turns, one node at a time."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

import structlog
from sqlalchemy.exc import SQLAlchemyError

from exportd.errors import driver_message
from exportd.queue.app import App, WorkerContext
from exportd.queue.periodic import PeriodicRunner

log = structlog.get_logger("exportd.worker")


class Maintenance:
    def __init__(self, app: App, context: WorkerContext, *, node_id: str) -> None:
        self.app = app
        self.context = context
        self.settings = context.settings
        self.store = context.store
        self.periodic = PeriodicRunner(context.db, node_id=node_id, clock=context.clock)
        self._next: dict[str, float] = {}

    def run_due(self) -> None:
        now = time.monotonic()
        # The reaper takes no turns: every node runs it, since rescuing is safe to race
        # (rows another node is rescuing are skipped, a rescued job is no longer
        # running), and a node frozen while holding a turn (a paused VM keeps its
        # session and its lock) must not stop every rescue.
        if now >= self._next.get("exportd.reaper", 0.0):
            self._next["exportd.reaper"] = now + self.settings.reaper_interval_s
            self._guarded("exportd.reaper", self._reap)
        schedule: list[tuple[str, float, Callable[[], object]]] = [
            ("exportd.retention", self.settings.retention_interval_s, self._prune),
            *(
                (job.name, job.every(self.settings), partial(job.run, self.context))
                for job in self.app.periodic_jobs
            ),
        ]
        for name, interval_s, work in schedule:
            # Ask the database only when the task could be due: another node may have run
            # it meanwhile, in which case it is not due yet and we look again later.
            if now < self._next.get(name, 0.0):
                continue
            self._next[name] = now + interval_s
            self._guarded(name, partial(self.periodic.run_if_due, name, interval_s, work))

    def _guarded(self, name: str, run: Callable[[], object]) -> None:
        """Maintenance must never stop the worker; it runs again next interval."""
        try:
            run()
        except SQLAlchemyError as exc:
            log.warning(
                "periodic.failed", task=name, error=type(exc).__name__, detail=driver_message(exc)
            )
        except Exception:
            log.exception("periodic.failed", task=name)

    def _reap(self) -> None:
        with self.context.db.write() as conn:
            reaped = self.store.reap_expired(conn)
            for settled in reaped:
                for rescued in self.app.rescue_hooks:
                    rescued(conn, settled, self.context)
                task = self.app.tasks.find(settled.task)
                if task is not None and task.on_settled is not None:
                    task.on_settled(conn, settled, self.context)
        for settled in reaped:
            log.warning(
                "job.lease_rescued",
                job_id=settled.claim.job_id,
                attempt=settled.claim.attempt,
                state=settled.state,
            )

    def _prune(self) -> None:
        with self.context.db.write() as conn:
            removed = self.store.prune(
                conn,
                keep_completed=self.settings.job_keep_completed,
                keep_failed=self.settings.job_keep_failed,
            )
            for retention in self.app.retention_hooks:
                retention(conn, self.context)
        if removed:
            log.info("jobs.pruned", removed=removed)

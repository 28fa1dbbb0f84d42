"""How schedules plug into the worker: the periodic tick that starts due runs (one node
at a time), and a hook on the export task's outcomes that counts a schedule's failures."""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, select, update

from exportd.db.tables import exports, schedules
from exportd.exports.lifecycle import SETTLED_EXPORT
from exportd.exports.service import ExportService
from exportd.exports.task import EXPORT_TASK
from exportd.queue.app import App, WorkerContext
from exportd.queue.models import Settled
from exportd.schedules import runs
from exportd.schedules.ticker import Ticker
from exportd.sources.loading import load_sources

TICK = "exportd.schedules"


def register(app: App) -> None:
    app.periodic(TICK, every=lambda s: s.schedule_tick_s)(tick)
    app.also_on_settled(EXPORT_TASK, count_outcome)


def _ticker(worker: WorkerContext) -> Ticker:
    settings = worker.settings
    service = ExportService(
        db=worker.db,
        store=worker.store,
        sources=load_sources(settings.source_modules, settings.sql_sources, settings.connections),
        settings=settings,
        clock=worker.clock,
    )
    return Ticker(db=worker.db, exports=service, settings=settings, clock=worker.clock)


def tick(worker: WorkerContext) -> object:
    return worker.shared(_ticker).tick()


_OUTCOME = select(exports.c.schedule_id, exports.c.status, exports.c.error).where(
    exports.c.job_id == bindparam("job_id")
)


def count_outcome(conn: Connection, settled: Settled, worker: WorkerContext) -> None:
    """A schedule's export ended: a failure counts (and may pause it), a completed or
    skipped run resets the count; a cancelled one says nothing about the schedule."""
    if settled.state is None:
        return
    noted = settled.notes.get(SETTLED_EXPORT)
    if noted is not None and noted.schedule_id is None:
        return  # most exports: no schedule's, and no read to learn it
    export = conn.execute(_OUTCOME, {"job_id": settled.claim.job_id}).first()
    if export is None or export.schedule_id is None:
        return
    row = runs.locked(conn, export.schedule_id)
    if row is None:  # deleted meanwhile
        return
    now = worker.clock.now()
    if export.status == "failed":
        found = export.error or {}
        error = {"code": found.get("code") or "job_failed", "message": found.get("message") or ""}
        max_failures = worker.settings.schedule_max_failures
        values = runs.failed(conn, row, error, now=now, max_failures=max_failures)
    elif export.status == "completed":
        values = runs.succeeded(row, now=now)
    else:
        return
    if values:
        conn.execute(update(schedules).where(schedules.c.id == row.id).values(values))

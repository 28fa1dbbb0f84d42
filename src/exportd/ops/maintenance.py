"""How operations plug into the worker: the cleanup and the failure-ratio alert as
periodic jobs, an event for each job rescued from a vanished worker, and the event log's
retention with the queue's."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Connection

from exportd.ops import events
from exportd.ops.alerts import FailureRatioAlert, failure_ratio_alert
from exportd.ops.cleanup import Cleanup
from exportd.queue.app import App, WorkerContext
from exportd.queue.models import Settled
from exportd.storage import storage_for


def register(app: App) -> None:
    app.periodic("exportd.cleanup", every=lambda s: s.cleanup_interval_seconds)(run_cleanup)
    app.periodic("exportd.alerts", every=lambda s: s.alert_interval_s)(check_alert)
    app.on_rescued(record_rescue)
    app.on_retention(prune_events)


def cleanup_for(worker: WorkerContext) -> Cleanup:
    settings = worker.settings
    return Cleanup(
        db=worker.db,
        storage=storage_for(settings),
        batch_size=settings.cleanup_batch_size,
        orphan_grace_s=settings.cleanup_orphan_grace_s,
        clock=worker.clock,
    )


def run_cleanup(worker: WorkerContext) -> object:
    return worker.shared(cleanup_for).run(dry_run=worker.settings.cleanup_dry_run)


def _alert(worker: WorkerContext) -> FailureRatioAlert:
    return failure_ratio_alert(worker.settings, worker.db, clock=worker.clock)


def check_alert(worker: WorkerContext) -> object:
    return worker.shared(_alert).check()


def record_rescue(conn: Connection, settled: Settled, worker: WorkerContext) -> None:
    events.record_rescue(conn, settled, worker.clock.now())


def prune_events(conn: Connection, worker: WorkerContext) -> None:
    cutoff = worker.clock.now() - timedelta(days=worker.settings.event_retention_days)
    events.prune(conn, before=cutoff)

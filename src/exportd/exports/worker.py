"""How exports plug into the worker: the export task and its settle hook, the removal of
an artifact whose outcome was not kept, the quota ledger's retention, and each child's
set-up for writing files."""

from __future__ import annotations

import structlog
from sqlalchemy import Connection

from exportd.config import Settings
from exportd.errors import StorageError
from exportd.exports.artifacts import stored_keys
from exportd.exports.lifecycle import record_outcome, record_started
from exportd.exports.quotas import prune_slots
from exportd.exports.task import EXPORT_TASK, run_export, use_settings
from exportd.queue.app import App, WorkerContext
from exportd.queue.models import Outcome
from exportd.storage import Storage, storage_for

log = structlog.get_logger("exportd.worker")


def register(app: App) -> None:
    app.task(EXPORT_TASK, on_settled=record_outcome)(run_export)
    app.on_claimed(record_started)
    app.on_start(open_storage)
    app.on_discarded(discard_artifact)
    app.on_retention(prune_usage_slots)
    app.child_setup(use_settings)
    app.child_setup(use_the_system_allocator)
    app.child_setup(remove_stale_spool)


def _storage(worker: WorkerContext) -> Storage:
    return storage_for(worker.settings)


def open_storage(worker: WorkerContext) -> None:
    """The storage is opened as the worker starts: a bad EXPORTD_STORAGE_URL (or S3
    without its extra) stops the start instead of failing the first discard."""
    worker.shared(_storage)


def prune_usage_slots(conn: Connection, worker: WorkerContext) -> None:
    """The quota ledger's slots a day's window no longer reaches (with the queue's
    retention sweep, one node at a time)."""
    prune_slots(conn, worker.clock.now())


def discard_artifact(outcome: Outcome, worker: WorkerContext) -> None:
    """The file of a result that was not kept is removed now, not at the next sweep."""
    try:
        for key in stored_keys(outcome.result):  # a split export's every part too
            worker.shared(_storage).delete(key)
    except (OSError, StorageError) as exc:  # the orphan sweep will try again
        log.warning("worker.discard_failed", job_id=outcome.claim.job_id, error=type(exc).__name__)


def use_the_system_allocator(settings: Settings) -> None:
    """Arrow's default pool (mimalloc) keeps freed pages for reuse, so a child's memory
    grew with the export: 216 MB for a million rows of Parquet, 178 MB with the
    system's allocator, which was no slower (bench/export_formats.py)."""
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())


def remove_stale_spool(settings: Settings) -> None:
    """XLSX temporary files a killed child left behind (older than a day)."""
    from exportd.formats.xlsx import remove_stale_spool as remove

    remove()

"""Deliveries to destinations as jobs, like emails and webhooks (``delivery/jobs.py``).

When an export completes, each destination it names gets a ``deliveries`` row (channel
``destination``, target the destination's id) and a job, in the transaction that records
the outcome; the remote key is worked out then, from the destination's key template.
The job streams the file from our storage to the destination (a split delivered as parts:
every file of it, :mod:`~exportd.destinations.sets`); its settle hook copies the outcome
onto the delivery row and onto the export's ``destination_status``, which the export's
view shows: ``sent`` only once the whole set is.  A delivery that runs out of attempts,
or fails in a way retrying cannot help (a host key that is not the pinned one, refused
credentials, a missing bucket), is a dead letter: ``GET /v1/deliveries/failed``, retried from there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select, update

from exportd.db.locks import lock_for_transaction
from exportd.db.tables import deliveries, destinations, exports, jobs
from exportd.delivery.jobs import new_delivery, record_delivery
from exportd.destinations.keys import KeyTemplateInvalid
from exportd.destinations.models import Kind, parse_config
from exportd.destinations.port import Outgoing
from exportd.destinations.service import reach_of, writer_for
from exportd.destinations.sets import Planned, planned
from exportd.errors import RequestInvalid, TerminalJobError
from exportd.queue.app import App, WorkerContext
from exportd.queue.models import JobState, Settled
from exportd.queue.store import JobStore
from exportd.queue.tasks import JobContext

DESTINATION_TASK = "exportd.deliver_to_destination"
CHANNEL = "destination"


def schedule(
    conn: Connection, export: Row[Any], state: JobState, *, store: JobStore, attempts: int
) -> list[str]:
    """Queue a delivery to each destination a completed export names; returns their ids."""
    if state is not JobState.COMPLETED or not export.destinations or not export.result:
        return []
    status = dict(export.destination_status or {})
    ids = []
    for destination_id in export.destinations:
        row = conn.execute(
            select(destinations).where(
                destinations.c.id == destination_id, destinations.c.owner_id == export.owner_id
            )
        ).first()
        delivery_id = new_delivery(
            conn,
            export,
            store=store,
            task=DESTINATION_TASK,
            channel=CHANNEL,
            event="export.completed",
            target=destination_id,
            attempts=attempts,
        )
        status[destination_id] = {
            "delivery_id": delivery_id,
            "status": "pending",
            "name": row.name if row is not None else None,
            "kind": row.kind if row is not None else None,
            **(_where(row, export) if row is not None else {"remote_key": None}),
            "error": None,
            "attempts": 0,
        }
        ids.append(delivery_id)
    conn.execute(update(exports).where(exports.c.id == export.id).values(destination_status=status))
    return ids


def _where(destination: Row[Any], export: Row[Any]) -> dict[str, Any]:
    """The key the export shows (its file's, or its set's manifest's) and how many files."""
    try:
        config = parse_config(Kind(destination.kind), destination.config)
        files = planned(config, export)
    except (RequestInvalid, KeyTemplateInvalid):
        return {"remote_key": None}  # the job fails with the reason
    return _shown(files)


def _shown(files: list[Planned]) -> dict[str, Any]:
    return {"remote_key": files[-1].remote_key, "files": len(files)}


# -- sending (in a worker's child) -------------------------------------------------------


def run_delivery(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    from exportd.exports.task import runtime  # the child's shared database and storage

    rt = runtime()
    with rt.db.read() as conn:
        delivery = conn.execute(
            select(deliveries).where(deliveries.c.id == payload["delivery_id"])
        ).first()
        if delivery is None:
            raise TerminalJobError("the delivery no longer exists", code="delivery_not_found")
        export = conn.execute(select(exports).where(exports.c.id == delivery.export_id)).one()
        destination = conn.execute(
            select(destinations).where(
                destinations.c.id == delivery.target,
                destinations.c.owner_id == delivery.owner_id,
            )
        ).first()
    if destination is None:
        raise TerminalJobError("the destination was deleted", code="destination_not_found")
    result = export.result or {}
    if export.status != "completed" or not result.get("key") or _expired(export, rt.clock.now()):
        raise TerminalJobError("the export's file is no longer kept", code="export_expired")
    config = parse_config(Kind(destination.kind), destination.config)
    try:
        files = planned(config, export)
    except KeyTemplateInvalid as exc:
        raise TerminalJobError(str(exc), code="key_template_invalid") from None
    writer = writer_for(
        destination,
        secret_key=rt.settings.secret_key.get_secret_value(),
        reach=reach_of(rt.settings),
    )
    # Streamed from our storage one file at a time, the manifest last (sets.py).
    outgoing = [Outgoing(f.remote_key, _reader(rt.storage, f.storage_key)) for f in files]
    writer.put_all(outgoing, ctx.checkpoint)
    return {**_shown(files), "size": sum(f.size or 0 for f in files)}


def _reader(storage: Any, key: str) -> Any:
    return lambda: storage.read(key)


def _expired(export: Row[Any], now: datetime) -> bool:
    return export.expires_at is not None and export.expires_at <= now


# -- settling ----------------------------------------------------------------------------


def record_destination(conn: Connection, settled: Settled, worker: WorkerContext) -> None:
    """The delivery row as for emails and webhooks, then the export's view of it."""
    record_delivery(conn, settled, worker)
    if settled.state is None:
        return
    row = conn.execute(
        select(deliveries).where(deliveries.c.job_id == settled.claim.job_id)
    ).first()
    if row is None:
        return
    result = _job_result(conn, settled) if settled.state is JobState.COMPLETED else None
    _update_status(conn, row, result)


def mark_pending(conn: Connection, delivery: Row[Any]) -> None:
    """A dead delivery sent again shows as pending on its export at once."""
    _update_status(conn, delivery, None, status="pending")


def mark_cancelled(conn: Connection, delivery: Row[Any]) -> None:
    """A dead delivery an operator gave up on shows as cancelled on its export (with the
    error it died of)."""
    _update_status(conn, delivery, None, status="cancelled")


def _update_status(
    conn: Connection,
    delivery: Row[Any],
    result: dict[str, Any] | None,
    *,
    status: str | None = None,
) -> None:
    # Two deliveries of one export may settle at once: one at a time, under the owner's
    # lock, so neither overwrites the other's entry.
    lock_for_transaction(conn, f"owner:{delivery.owner_id}")
    export = conn.execute(
        select(exports.c.destination_status).where(exports.c.id == delivery.export_id)
    ).first()
    if export is None:
        return
    entries = dict(export.destination_status or {})
    entry = dict(entries.get(delivery.target) or {"delivery_id": delivery.id})
    entry.update(
        status=status or delivery.status,
        error=None if status == "pending" else delivery.error,
        attempts=delivery.attempts,
    )
    if result and result.get("remote_key"):
        entry.update(remote_key=result["remote_key"], files=result.get("files", 1))
    entries[delivery.target] = entry
    conn.execute(
        update(exports).where(exports.c.id == delivery.export_id).values(destination_status=entries)
    )


def _job_result(conn: Connection, settled: Settled) -> dict[str, Any] | None:
    return conn.execute(select(jobs.c.result).where(jobs.c.id == settled.claim.job_id)).scalar()


def register(app: App) -> None:
    """Destinations plug into the worker: the delivery task and its settle hook."""
    app.task(DESTINATION_TASK, on_settled=record_destination)(run_delivery)

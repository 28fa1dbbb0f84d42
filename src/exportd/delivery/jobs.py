"""Deliveries as jobs: scheduled in the transaction that settles an export (so none is
lost and none is sent for an outcome that did not commit), sent by ``exportd.deliver``
in a worker's child, and recorded on the ``deliveries`` row when their job settles.

Emails go out for completed and failed exports when the request named an address;
webhooks for both outcomes when it named a URL.  A delivery that runs out of attempts is
a dead letter: listed at ``GET /v1/deliveries/failed`` and requeued from there.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import orjson
from sqlalchemy import Connection, Row, insert, select, update

from exportd import tracing
from exportd.clock import Clock
from exportd.config import Settings
from exportd.db.tables import deliveries, exports
from exportd.delivery import webhooks
from exportd.delivery.emails import compose_email
from exportd.delivery.smtp import SmtpServer
from exportd.errors import RetryableJobError, TerminalJobError
from exportd.exports.links import DownloadLinks
from exportd.ops import events
from exportd.ops.events import EventKind
from exportd.queue.app import App, WorkerContext
from exportd.queue.models import JobState, NewJob, Settled
from exportd.queue.store import JobStore
from exportd.queue.tasks import JobContext

DELIVER_TASK = "exportd.deliver"
EVENTS = {JobState.COMPLETED: "export.completed", JobState.FAILED: "export.failed"}


def schedule(
    conn: Connection, export: Row[Any], state: JobState, *, store: JobStore, attempts: int
) -> list[str]:
    """Queue the deliveries an export's request asked for (each with ``attempts``);
    returns their ids."""
    event = EVENTS.get(state)
    notify = export.notify or {}
    wanted = [(c, notify[c]) for c in ("email", "webhook_url") if notify.get(c)]
    if event is None or not wanted:
        return []
    return [
        new_delivery(
            conn,
            export,
            store=store,
            task=DELIVER_TASK,
            channel="email" if key == "email" else "webhook",
            event=event,
            target=target,
            attempts=attempts,
        )
        for key, target in wanted
    ]


def new_delivery(
    conn: Connection,
    export: Row[Any],
    *,
    store: JobStore,
    task: str,
    channel: str,
    event: str,
    target: str,
    attempts: int,
) -> str:
    """A pending delivery of ``export`` and the job that makes it; returns its id."""
    delivery_id = uuid.uuid4().hex
    job = store.enqueue(
        conn,
        NewJob(
            task=task,
            payload={"delivery_id": delivery_id},
            max_attempts=attempts,
            correlation_id=export.correlation_id,
        ),
    ).job
    now = store.clock.now()
    conn.execute(
        insert(deliveries).values(
            id=delivery_id,
            export_id=export.id,
            owner_id=export.owner_id,
            channel=channel,
            event=event,
            target=target,
            job_id=job.id,
            status="pending",
            created_at=now,
            updated_at=now,
        )
    )
    return delivery_id


# -- sending (in a worker's child) -------------------------------------------------------


def run_delivery(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    from exportd.exports.task import runtime  # the child's shared database and storage

    rt = runtime()
    with rt.db.write() as conn:
        delivery = conn.execute(
            select(deliveries).where(deliveries.c.id == payload["delivery_id"])
        ).first()
        if delivery is None:
            raise TerminalJobError("the delivery no longer exists", code="delivery_not_found")
        export = conn.execute(select(exports).where(exports.c.id == delivery.export_id)).one()
        link = None
        if delivery.event == "export.completed" and export.status == "completed":
            # A person opens an email's link (and so may a mail scanner, first): the
            # landing page. A webhook's receiver is a program: the API's link.
            link = _download_link(
                conn, rt.settings, export, page=delivery.channel == "email", now=rt.clock.now()
            )
    tracing.annotate({"exportd.delivery.channel": delivery.channel, "exportd.export.id": export.id})
    if delivery.channel == "email":
        attachment = _attachment(rt, export)
        message = compose_email(rt.settings, delivery, export, link, attachment, now=rt.clock.now())
        _send_email(rt.settings, message)
        return {"channel": "email"}
    status = _send_webhook(rt.settings, delivery, export, link, rt.clock)
    return {"channel": "webhook", "status": status}


def _download_link(
    conn: Connection, settings: Settings, export: Row[Any], *, page: bool, now: datetime
) -> str:
    links = DownloadLinks(settings.secret_key.get_secret_value(), settings.download_token_ttl_s)
    # Valid as long as the file is (a one-time link is still one-time).
    ttl = max(timedelta(minutes=5), export.expires_at - now)
    minted = links.mint(conn, export.id, ttl=ttl)
    return settings.public_url.rstrip("/") + (minted.page_url if page else minted.url)


def _attachment(rt: Any, export: Row[Any]) -> tuple[bytes, str, str] | None:
    result = export.result or {}
    limit = rt.settings.email_attach_max_bytes
    if export.status != "completed" or not limit or int(result.get("size", 0)) > limit:
        return None
    if result.get("files"):  # a split delivered as parts: its manifest alone is no file
        return None
    data = b"".join(rt.storage.read(result["key"]))
    return data, result["filename"], result["content_type"]


def _send_email(settings: Settings, message: EmailMessage) -> None:
    import smtplib

    if settings.smtp_url is None:
        raise TerminalJobError(
            "no SMTP server is configured (EXPORTD_SMTP_URL)", code="smtp_missing"
        )
    server = SmtpServer.from_url(settings.smtp_url.get_secret_value())
    try:
        server.send(message)
    except smtplib.SMTPRecipientsRefused:
        raise TerminalJobError(
            "the mail server refused the address", code="email_rejected"
        ) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise RetryableJobError(
            f"the mail server failed: {type(exc).__name__}", code="smtp_unavailable"
        ) from None


def webhook_body(
    delivery: Row[Any], export: Row[Any], link: str | None, base: str, now: datetime
) -> bytes:
    result = export.result or {}
    data: dict[str, Any] = {
        "export_id": export.id,
        "status": export.status,
        "source": export.source,
        "format": export.format,
        "created_at": export.created_at.isoformat(),
        "links": {"self": f"{base}/v1/exports/{export.id}"},
    }
    if delivery.event == "export.completed":
        data["result"] = {
            k: result.get(k) for k in ("filename", "content_type", "size", "sha256", "row_count")
        }
        data["expires_at"] = export.expires_at.isoformat() if export.expires_at else None
        if link:
            data["links"]["download"] = link
    else:
        data["error"] = export.error
    body = {"type": delivery.event, "timestamp": now.isoformat(), "data": data}
    return orjson.dumps(body)


def _send_webhook(
    settings: Settings, delivery: Row[Any], export: Row[Any], link: str | None, clock: Clock
) -> int:
    base = settings.public_url.rstrip("/")
    now = clock.now()
    body = webhook_body(delivery, export, link, base, now)
    secret = webhooks.secret_for(settings)
    timestamp = int(now.timestamp())
    headers = {
        "webhook-id": delivery.id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhooks.sign(
            webhooks.signing_key(secret), delivery.id, timestamp, body
        ),
        "User-Agent": "exportd-webhooks",
    }
    return webhooks.post(
        delivery.target,
        body,
        headers,
        allow_private=settings.webhook_allow_private,
        timeout=settings.webhook_timeout_s,
    )


# -- settling ----------------------------------------------------------------------------


def record_delivery(conn: Connection, settled: Settled, worker: WorkerContext) -> None:
    """Copy the job's outcome onto the delivery row, in the job's own transaction."""
    if settled.state is None:
        return
    now = worker.clock.now()
    values: dict[str, Any] = {"updated_at": now}
    if settled.state is JobState.COMPLETED or settled.error is not None:
        values["attempts"] = deliveries.c.attempts + 1  # a hand-back at shutdown is no try
    if settled.state is JobState.COMPLETED:
        values.update(status="sent", sent_at=now, error=None)
    elif settled.state is JobState.FAILED:
        values["status"] = "failed"
    elif settled.state is JobState.CANCELLED:
        values["status"] = "cancelled"
    if settled.error is not None:
        values["error"] = settled.error.as_dict()
    conn.execute(
        update(deliveries).where(deliveries.c.job_id == settled.claim.job_id).values(values)
    )
    if settled.state in (JobState.COMPLETED, JobState.FAILED):
        _log_event(conn, settled, now)


def _log_event(conn: Connection, settled: Settled, now: datetime) -> None:
    row = conn.execute(
        select(deliveries.c.channel, deliveries.c.export_id).where(
            deliveries.c.job_id == settled.claim.job_id
        )
    ).first()
    if row is None:
        return
    export = conn.execute(select(exports).where(exports.c.id == row.export_id)).first()
    sent = settled.state is JobState.COMPLETED
    kind = {
        ("email", True): EventKind.EMAIL_SENT,
        ("email", False): EventKind.EMAIL_FAILED,
        ("webhook", True): EventKind.WEBHOOK_SENT,
        ("webhook", False): EventKind.WEBHOOK_FAILED,
        ("destination", True): EventKind.DESTINATION_SENT,
        ("destination", False): EventKind.DESTINATION_FAILED,
    }[(row.channel, sent)]
    events.record(
        conn,
        kind,
        now,
        export=export,
        job_id=settled.claim.job_id,
        attempt=settled.claim.attempt,
        error=settled.error,
    )


def register(app: App) -> None:
    """Deliveries plug into the worker: the task and its settle hook."""
    app.task(DELIVER_TASK, on_settled=record_delivery)(run_delivery)

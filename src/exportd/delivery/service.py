"""What the API offers on deliveries: an export's deliveries, the dead letters, a retry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, select, update

from exportd.auth.principal import Principal
from exportd.clock import Clock, SystemClock
from exportd.db import Database
from exportd.db.tables import deliveries
from exportd.delivery.jobs import DELIVER_TASK
from exportd.destinations import jobs as destination_jobs
from exportd.errors import Conflict, InvalidTransition, LimitReached, NotFound
from exportd.queue.models import NewJob
from exportd.queue.store import JobStore


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryView:
    id: str
    export_id: str
    channel: str
    event: str
    target: str
    status: str
    attempts: int
    error: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None

    @classmethod
    def of(cls, row: Row[Any]) -> DeliveryView:
        return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})


class DeliveryService:
    def __init__(
        self,
        *,
        db: Database,
        store: JobStore,
        attempts: int,
        retry_cooldown_s: float,
        clock: Clock | None = None,
    ) -> None:
        self.db = db
        self.store = store
        self.attempts = attempts
        self.cooldown = timedelta(seconds=retry_cooldown_s)
        self.clock = clock or SystemClock()

    def for_export(self, principal: Principal, export_id: str) -> list[DeliveryView]:
        query = select(deliveries).where(deliveries.c.export_id == export_id)
        with self.db.read() as conn:
            rows = conn.execute(_visible(query, principal).order_by(deliveries.c.created_at))
            return [DeliveryView.of(row) for row in rows]

    def failed(self, principal: Principal, *, limit: int = 100) -> list[DeliveryView]:
        """Dead letters: deliveries that ran out of attempts (the caller's; all for admins)."""
        query = select(deliveries).where(deliveries.c.status == "failed")
        query = _visible(query, principal).order_by(deliveries.c.updated_at.desc()).limit(limit)
        with self.db.read() as conn:
            return [DeliveryView.of(row) for row in conn.execute(query)]

    def retry(self, principal: Principal, delivery_id: str) -> DeliveryView:
        """Send a dead delivery again with a fresh attempt budget, at most once per cooldown."""
        with self.db.write() as conn:
            query = _visible(select(deliveries).where(deliveries.c.id == delivery_id), principal)
            row = conn.execute(query).first()
            if row is None:
                raise NotFound("no such delivery", code="delivery_not_found")
            if row.status != "failed":
                raise Conflict(
                    f"only failed deliveries can be retried; this one is {row.status}",
                    code="delivery_not_failed",
                )
            now = self.clock.now()
            if row.last_retry_at is not None and now - row.last_retry_at < self.cooldown:
                wait = (row.last_retry_at + self.cooldown - now).total_seconds()
                raise LimitReached(
                    "this delivery was retried moments ago",
                    code="retry_rate_limited",
                    retry_after_s=max(int(wait) + 1, 1),
                )
            return DeliveryView.of(self.requeue_failed(conn, row))

    def requeue_failed(self, conn: Connection, row: Row[Any]) -> Row[Any]:
        """Send a failed delivery's row again, in the caller's transaction (the caller
        decided it may: ``retry``, or an admin's bulk retry); its row as it is now."""
        now = self.clock.now()
        job_id = self._requeue_job(conn, row)
        conn.execute(
            update(deliveries)
            .where(deliveries.c.id == row.id)
            .values(status="pending", job_id=job_id, last_retry_at=now, updated_at=now)
        )
        retried = conn.execute(select(deliveries).where(deliveries.c.id == row.id)).one()
        if row.channel == destination_jobs.CHANNEL:
            destination_jobs.mark_pending(conn, retried)
        return retried

    def _requeue_job(self, conn: Connection, row: Row[Any]) -> int:
        if row.job_id is not None:
            try:
                return self.store.requeue(conn, row.job_id).id
            except InvalidTransition:
                pass
        # The job was pruned by retention: a new one carries the delivery on.
        task = (
            destination_jobs.DESTINATION_TASK
            if row.channel == destination_jobs.CHANNEL
            else DELIVER_TASK
        )
        new = NewJob(task=task, payload={"delivery_id": row.id}, max_attempts=self.attempts)
        return self.store.enqueue(conn, new).job.id


def _visible(query: Any, principal: Principal) -> Any:
    """Another user's delivery does not exist for the caller (404, never 403)."""
    return query if principal.is_admin else query.where(deliveries.c.owner_id == principal.user_id)

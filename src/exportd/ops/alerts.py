"""The failure-ratio alert: over a sliding window, when at least ``min_events`` exports
ended and the failed share reaches ``threshold``, fire — at most once per cooldown.

Everything is read from and written to the event log, so any node may run the check (the
periodic runner picks one) and the cooldown holds across nodes and restarts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import orjson
import structlog
from sqlalchemy import func, select

from exportd.clock import Clock, SystemClock
from exportd.config import Settings
from exportd.db import Database
from exportd.db.tables import export_events
from exportd.delivery import webhooks
from exportd.errors import JobError
from exportd.ops import events
from exportd.ops.events import EventKind

log = structlog.get_logger("exportd.alerts")


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    window_s: float
    min_events: int
    threshold: float
    cooldown_s: float


@dataclass(frozen=True, slots=True)
class Alert:
    failed: int
    total: int
    ratio: float
    window_s: float

    def as_dict(self) -> dict[str, float | int | str]:
        return {
            "alert": "export_failure_ratio",
            "failed": self.failed,
            "total": self.total,
            "ratio": round(self.ratio, 4),
            "window_s": self.window_s,
        }


class FailureRatioAlert:
    def __init__(
        self,
        db: Database,
        policy: AlertPolicy,
        *,
        webhook_url: str | None = None,
        webhook_secret: str = "",
        allow_private: bool = False,
        clock: Clock | None = None,
    ) -> None:
        self.db = db
        self.policy = policy
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.allow_private = allow_private
        self.clock = clock or SystemClock()

    def check(self) -> Alert | None:
        """Fire if due; returns the alert fired, if any."""
        now = self.clock.now()
        since = now - timedelta(seconds=self.policy.window_s)
        with self.db.write() as conn:
            counts: dict[str, int] = dict(
                conn.execute(
                    select(export_events.c.kind, func.count())
                    .where(
                        export_events.c.at >= since,
                        export_events.c.kind.in_(
                            [EventKind.COMPLETED.value, EventKind.FAILED.value]
                        ),
                    )
                    .group_by(export_events.c.kind)
                ).all()
            )
            failed = counts.get(EventKind.FAILED.value, 0)
            total = failed + counts.get(EventKind.COMPLETED.value, 0)
            if total < self.policy.min_events or failed / total < self.policy.threshold:
                return None
            last = conn.execute(
                select(func.max(export_events.c.at)).where(
                    export_events.c.kind == EventKind.ALERT_FIRED.value
                )
            ).scalar()
            if last is not None and now - last < timedelta(seconds=self.policy.cooldown_s):
                return None
            alert = Alert(failed, total, failed / total, self.policy.window_s)
            events.record(conn, EventKind.ALERT_FIRED, now, detail=alert.as_dict())
        log.error("alert.fired", **alert.as_dict())
        self._notify(alert, int(now.timestamp()))
        return alert

    def _notify(self, alert: Alert, timestamp: int) -> None:
        if not self.webhook_url:
            return
        body = orjson.dumps(
            {"type": "alert.fired", "timestamp": timestamp, "data": alert.as_dict()}
        )
        message_id = f"alert-{timestamp}"
        key = webhooks.signing_key(self.webhook_secret)
        headers = {
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": webhooks.sign(key, message_id, timestamp, body),
        }
        try:
            webhooks.post(
                self.webhook_url, body, headers, allow_private=self.allow_private, timeout=10
            )
        except JobError as exc:
            # The event and the ERROR line are the alert; the webhook is a courtesy.
            log.warning("alert.webhook_failed", code=exc.code)


def failure_ratio_alert(
    settings: Settings, db: Database, *, clock: Clock | None = None
) -> FailureRatioAlert:
    policy = AlertPolicy(
        window_s=settings.alert_window_s,
        min_events=settings.alert_min_events,
        threshold=settings.alert_failure_ratio,
        cooldown_s=settings.alert_cooldown_s,
    )
    secret = webhooks.secret_for(settings)
    return FailureRatioAlert(
        db,
        policy,
        webhook_url=settings.alert_webhook_url,
        webhook_secret=secret,
        allow_private=settings.webhook_allow_private,
        clock=clock,
    )

"""Operators' reports, computed from the event log so every node answers the same."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from exportd.clock import Clock
from exportd.db import Database
from exportd.db.tables import export_events
from exportd.ops.events import EventKind

# The seeds' counter names, and the events behind them.
COUNTERS = {
    "exportsEnqueued": (EventKind.ENQUEUED, None),
    "exportsCompleted": (EventKind.COMPLETED, None),
    "exportsFailed": (EventKind.FAILED, None),
    "exportsRetried": (EventKind.RETRIED, None),
    "exportsCancelled": (EventKind.CANCELLED, None),
    "pdfProcessed": (EventKind.COMPLETED, "pdf"),
    "pdfFailed": (EventKind.FAILED, "pdf"),
    "emailSent": (EventKind.EMAIL_SENT, None),
    "emailFailed": (EventKind.EMAIL_FAILED, None),
    "webhookSent": (EventKind.WEBHOOK_SENT, None),
    "webhookFailed": (EventKind.WEBHOOK_FAILED, None),
    "destinationSent": (EventKind.DESTINATION_SENT, None),
    "destinationFailed": (EventKind.DESTINATION_FAILED, None),
    "downloads": (EventKind.DOWNLOADED, None),
    "cleanupCompleted": (EventKind.CLEANUP_COMPLETED, None),
    "cleanupFailed": (EventKind.CLEANUP_FAILED, None),
    "leaseRescued": (EventKind.LEASE_RESCUED, None),
    "alertsFired": (EventKind.ALERT_FIRED, None),
}
# Perf windows read at most this many completed events (the newest).
PERF_ROWS = 100_000


class Reports:
    """The reports over the last ``hours``, each read in one transaction."""

    def __init__(self, *, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def export_ops(self, *, hours: float) -> dict[str, Any]:
        with self.db.read() as conn:
            return export_ops(conn, self._since(hours))

    def perf(self, *, hours: float) -> dict[str, Any]:
        since = self._since(hours)
        with self.db.read() as conn:
            return {"since": since, "items": perf(conn, since)}

    def _since(self, hours: float) -> datetime:
        return self.clock.now() - timedelta(hours=hours)


def export_ops(conn: Connection, since: datetime) -> dict[str, Any]:
    """Counts per counter over the window, in total and per source and format."""
    rows = conn.execute(
        select(
            export_events.c.kind,
            export_events.c.source,
            export_events.c.format,
            func.count().label("n"),
        )
        .where(export_events.c.at >= since)
        .group_by(export_events.c.kind, export_events.c.source, export_events.c.format)
    ).all()
    totals = dict.fromkeys(COUNTERS, 0)
    split: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTERS, 0))
    for row in rows:
        for name, (kind, fmt) in COUNTERS.items():
            if row.kind == kind.value and (fmt is None or row.format == fmt):
                totals[name] += row.n
                if row.source is not None:
                    split[(row.source, row.format)][name] += row.n
    return {
        "since": since,
        **totals,
        "by_source_format": [
            {"source": source, "format": fmt, **counts}
            for (source, fmt), counts in sorted(split.items())
        ],
    }


def perf(conn: Connection, since: datetime) -> list[dict[str, Any]]:
    """p50/p95/max of queue wait, run time and size per source and format."""
    rows = conn.execute(
        select(export_events.c.source, export_events.c.format, export_events.c.detail)
        .where(export_events.c.at >= since, export_events.c.kind == EventKind.COMPLETED.value)
        .order_by(export_events.c.at.desc())
        .limit(PERF_ROWS)
    ).all()
    samples: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(
        lambda: {"wait_ms": [], "run_ms": [], "size": []}
    )
    for row in rows:
        detail = row.detail or {}
        for name, values in samples[(row.source, row.format)].items():
            if detail.get(name) is not None:
                values.append(float(detail[name]))
    return [
        {
            "source": source,
            "format": fmt,
            "count": len(series["run_ms"]),
            **{name: summary(values) for name, values in series.items()},
        }
        for (source, fmt), series in sorted(samples.items())
    ]


def summary(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "max": None}
    ordered = sorted(values)
    return {"p50": _rank(ordered, 0.50), "p95": _rank(ordered, 0.95), "max": ordered[-1]}


def _rank(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile: always a value that was observed."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

"""Prometheus metrics.

Counts come from the processes that do the work: an API process counts what it
enqueues, a worker's supervisor what it settles, a child what it starts.  With
``PROMETHEUS_MULTIPROC_DIR`` set (``exportd serve`` and ``exportd worker`` set it for
their own process trees when it is not), every process of one node writes its values
there and one scrape of the node sums them.  Sum over nodes in queries.

Queue depth and the oldest queued job are read from the database at scrape time: every
node reports the same, cluster-wide value (take ``max`` across nodes, not ``sum``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from exportd.db import Database
from exportd.db.errors import is_unavailable
from exportd.queue.control import QueueControl
from exportd.queue.models import JobState
from exportd.queue.store import JobStore

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
EVENT_LABELS = ("kind", "source", "format", "plan", "reason")

EVENTS = Counter(
    "exportd_events",
    "Lifecycle events of exports, deliveries, cleanup and alerts, as in the event log.",
    EVENT_LABELS,
)
ARTIFACT_BYTES = Counter(
    "exportd_artifact_bytes", "Bytes of completed export files.", ("source", "format")
)
POLL_CACHE = Counter(
    "exportd_poll_cache",
    "Export reads (status polls, event streams) answered from the row cache or not.",
    ("result",),
)
POLL_CACHE_HITS = POLL_CACHE.labels("hit")
POLL_CACHE_MISSES = POLL_CACHE.labels("miss")
JOB_WAIT = Histogram(
    "exportd_job_wait_seconds",
    "From a job being due to a worker starting it.",
    ("task",),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
)
JOB_RUN = Histogram(
    "exportd_job_run_seconds",
    "How long an attempt ran, by how it ended.",
    ("task", "outcome"),
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600),
)


def count_events(events: Iterable[dict[str, Any]]) -> None:
    """Count committed event-log rows (called once their transaction commits)."""
    for values in events:
        labels = {name: values.get(name) or "" for name in EVENT_LABELS}
        EVENTS.labels(**labels).inc()
        size = (values.get("detail") or {}).get("size")
        if values["kind"] == "completed" and size:
            ARTIFACT_BYTES.labels(labels["source"], labels["format"]).inc(size)


class QueueCollector(Collector):
    """Jobs per state, the age of the oldest due job and paused queues, read at scrape
    time."""

    def __init__(self, db: Database, store: JobStore) -> None:
        self.db = db
        self.store = store
        self.control = QueueControl(clock=store.clock)

    def collect(self) -> Iterator[Metric]:
        # An outage is when the node's own counters matter most: they are still served,
        # with the database marked down, instead of the scrape failing as a whole.
        try:
            with self.db.read() as conn:
                stats = self.store.stats(conn)
                paused = self.control.paused(conn)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            yield _database_up(0)
            return
        yield _database_up(1)
        depth = GaugeMetricFamily(
            "exportd_queue_jobs", "Jobs in the queue by state.", labels=["state"]
        )
        for state in JobState:
            depth.add_metric([state.value], stats.counts.get(state, 0))
        yield depth
        age = 0.0
        if stats.oldest_queued_at is not None:
            age = max(0.0, (self.store.clock.now() - stats.oldest_queued_at).total_seconds())
        yield GaugeMetricFamily(
            "exportd_queue_oldest_queued_seconds",
            "How long the oldest due, queued job has waited (0 when none).",
            value=age,
        )
        gauge = GaugeMetricFamily(
            "exportd_queue_paused",
            "1 while a queue is paused (claims skip it), 0 once resumed.",
            labels=["queue"],
        )
        for name, is_paused in sorted({"default": False, **paused}.items()):
            gauge.add_metric([name], int(is_paused))
        yield gauge


def _database_up(value: int) -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "exportd_database_up", "1 when the queue's database answered this scrape.", value=value
    )


def serve_worker_metrics(port: int, host: str, db: Database, store: JobStore) -> None:
    """A worker's /metrics: its supervisor's and children's values, and the queue."""
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    registry.register(QueueCollector(db, store))
    start_http_server(port, host, registry=registry)


def exposition(db: Database, store: JobStore) -> tuple[bytes, str]:
    """The text format: this node's counters and the cluster's queue gauges."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        local = generate_latest(registry)
    else:
        local = generate_latest(REGISTRY)
    queue = CollectorRegistry()
    queue.register(QueueCollector(db, store))
    return local + generate_latest(queue), CONTENT_TYPE_LATEST

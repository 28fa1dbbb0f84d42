"""The operator's console: what the queue holds, who works it, how the last day went and
what each tenant uses of its plan.  Pure reads, each one transaction; the dead letters
and the actions on them are :mod:`exportd.ops.dead_letters`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from exportd.clock import Clock, SystemClock
from exportd.db import Database
from exportd.db.tables import export_events, exports, jobs
from exportd.exports.plans import plan_for
from exportd.exports.read_model import usage_of
from exportd.ops.events import EventKind
from exportd.ops.reports import PERF_ROWS, summary
from exportd.queue import workers
from exportd.queue.models import JobState

# The event log's operator actions: this module's bulk actions, and pausing a queue.
ADMIN_KINDS = (EventKind.ADMIN_ACTION.value, "queue_paused", "queue_resumed")
HOURS = 24


@dataclass(frozen=True, slots=True)
class QueueLine:
    queue: str
    counts: dict[str, int]  # per job state, every state named


@dataclass(frozen=True, slots=True)
class WaitingJob:
    job_id: int
    queue: str
    task: str
    export_id: str | None
    waiting_s: float


@dataclass(frozen=True, slots=True)
class RunningJob:
    job_id: int
    task: str
    queue: str
    started_at: datetime | None
    rss_bytes: int | None  # its child's memory, as of the worker's last heartbeat


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerLine:
    id: str
    hostname: str
    pid: int
    queues: list[str]
    concurrency: int
    started_at: datetime
    last_heartbeat_at: datetime
    stale: bool  # no heartbeat for two leases: it likely died without signing off
    rss_bytes: int | None
    running: list[RunningJob] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class Overview:
    now: datetime
    queues: list[QueueLine]
    totals: dict[str, int]
    oldest_waiting: WaitingJob | None
    workers: list[WorkerLine]


@dataclass(frozen=True, slots=True, kw_only=True)
class Hour:
    start: datetime
    completed: int
    failed: int
    p50_ms: float | None  # latency: queued to done (wait and run) of the exports completed
    p95_ms: float | None
    failure_ratio: float | None  # failed of those that ended (None: none did)


@dataclass(frozen=True, slots=True, kw_only=True)
class Activity:
    since: datetime
    hours: list[Hour]
    completed: int
    failed: int
    p50_ms: float | None
    p95_ms: float | None
    failure_ratio: float | None


@dataclass(frozen=True, slots=True)
class TenantUsage:
    owner_id: str
    plan: str
    usage: dict[str, Any]  # as ``GET /v1/me/usage`` gives it: limits, usage, remaining


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminEvent:
    at: datetime
    kind: str
    by: str | None
    message: str | None
    detail: dict[str, Any]


class Console:
    def __init__(self, *, db: Database, lease_s: float, clock: Clock | None = None) -> None:
        self.db = db
        self.stale_after = timedelta(seconds=2 * lease_s)
        self.clock = clock or SystemClock()

    def overview(self) -> Overview:
        now = self.clock.now()
        with self.db.read() as conn:
            queues, totals = _jobs_by_queue(conn)
            return Overview(
                now=now,
                queues=queues,
                totals=totals,
                oldest_waiting=_oldest_waiting(conn, now),
                workers=self._workers(conn, now),
            )

    def activity(self, *, hours: int = HOURS) -> Activity:
        """Completed and failed exports per hour, and the latency of the completed ones,
        over the last ``hours`` (the last hour is the current one, so far)."""
        now = self.clock.now()
        first = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
        with self.db.read() as conn:
            rows = conn.execute(
                select(export_events.c.at, export_events.c.kind, export_events.c.detail)
                .where(
                    export_events.c.at >= first,
                    export_events.c.kind.in_([EventKind.COMPLETED.value, EventKind.FAILED.value]),
                )
                .order_by(export_events.c.at.desc())
                .limit(PERF_ROWS)
            ).all()
        done, dead = [0] * hours, [0] * hours
        latency: list[list[float]] = [[] for _ in range(hours)]
        for row in rows:
            index = min(int((row.at - first).total_seconds() // 3600), hours - 1)
            if row.kind == EventKind.FAILED.value:
                dead[index] += 1
                continue
            done[index] += 1
            detail = row.detail or {}
            if detail.get("run_ms") is not None:
                latency[index].append(float(detail["run_ms"]) + float(detail.get("wait_ms") or 0))
        every = summary([value for values in latency for value in values])
        return Activity(
            since=first,
            hours=[
                Hour(
                    start=first + timedelta(hours=i),
                    completed=done[i],
                    failed=dead[i],
                    p50_ms=summary(latency[i])["p50"],
                    p95_ms=summary(latency[i])["p95"],
                    failure_ratio=_ratio(dead[i], done[i]),
                )
                for i in range(hours)
            ],
            completed=sum(done),
            failed=sum(dead),
            p50_ms=every["p50"],
            p95_ms=every["p95"],
            failure_ratio=_ratio(sum(dead), sum(done)),
        )

    def tenants(self, *, limit: int = 50) -> list[TenantUsage]:
        """The ``limit`` tenants that exported last, with what they use of their plan
        (as of their newest export's plan)."""
        now = self.clock.now()
        with self.db.read() as conn:
            owners = conn.execute(
                select(exports.c.owner_id, func.max(exports.c.created_at).label("last"))
                .where(exports.c.deleted_at.is_(None))
                .group_by(exports.c.owner_id)
                .order_by(func.max(exports.c.created_at).desc(), exports.c.owner_id)
                .limit(limit)
            ).all()
            found = []
            for owner in owners:
                plan = conn.execute(
                    select(exports.c.plan)
                    .where(exports.c.owner_id == owner.owner_id)
                    .order_by(exports.c.created_at.desc())
                    .limit(1)
                ).scalar_one()
                usage = usage_of(conn, plan_for(conn, plan), owner.owner_id, now)
                found.append(TenantUsage(owner.owner_id, plan, usage))
            return found

    def admin_events(self, *, limit: int = 20) -> list[AdminEvent]:
        """The newest operator actions from the event log."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(export_events)
                .where(export_events.c.kind.in_(ADMIN_KINDS))
                .order_by(export_events.c.at.desc(), export_events.c.id.desc())
                .limit(limit)
            ).all()
        return [
            AdminEvent(
                at=row.at,
                kind=row.kind,
                by=(row.detail or {}).get("by"),
                message=row.message,
                detail=dict(row.detail or {}),
            )
            for row in rows
        ]

    def _workers(self, conn: Connection, now: datetime) -> list[WorkerLine]:
        alive = workers.running(conn)
        running: dict[str, list[Any]] = {}
        if alive:
            rows = conn.execute(
                select(jobs.c.id, jobs.c.task, jobs.c.queue, jobs.c.started_at, jobs.c.worker_id)
                .where(
                    jobs.c.state == JobState.RUNNING.value,
                    jobs.c.worker_id.in_([w.id for w in alive]),
                )
                .order_by(jobs.c.started_at)
            )
            for row in rows:
                running.setdefault(row.worker_id, []).append(row)
        lines = []
        for worker in alive:
            # The jobs table says what it runs now; the heartbeat adds each one's memory.
            memory = {j["job_id"]: j.get("rss_bytes") for j in worker.running_jobs or []}
            lines.append(
                WorkerLine(
                    id=worker.id,
                    hostname=worker.hostname,
                    pid=worker.pid,
                    queues=list(worker.queues),
                    concurrency=worker.concurrency,
                    started_at=worker.started_at,
                    last_heartbeat_at=worker.last_heartbeat_at,
                    stale=now - worker.last_heartbeat_at > self.stale_after,
                    rss_bytes=worker.rss_bytes,
                    running=[
                        RunningJob(j.id, j.task, j.queue, j.started_at, memory.get(j.id))
                        for j in running.get(worker.id, [])
                    ],
                )
            )
        return lines


def _ratio(failed: int, completed: int) -> float | None:
    return None if failed + completed == 0 else failed / (failed + completed)


def _jobs_by_queue(conn: Connection) -> tuple[list[QueueLine], dict[str, int]]:
    rows = conn.execute(
        select(jobs.c.queue, jobs.c.state, func.count().label("n"))
        .group_by(jobs.c.queue, jobs.c.state)
        .order_by(jobs.c.queue)
    ).all()
    states = [state.value for state in JobState]
    by_queue: dict[str, dict[str, int]] = {}
    totals = dict.fromkeys(states, 0)
    for row in rows:
        by_queue.setdefault(row.queue, dict.fromkeys(states, 0))[row.state] = row.n
        totals[row.state] += row.n
    return [QueueLine(queue, counts) for queue, counts in by_queue.items()], totals


def _oldest_waiting(conn: Connection, now: datetime) -> WaitingJob | None:
    """The queued job that has been due longest (one waiting for a retry's backoff is
    not waiting yet)."""
    row = conn.execute(
        select(jobs.c.id, jobs.c.queue, jobs.c.task, jobs.c.payload, jobs.c.run_after)
        .where(jobs.c.state == JobState.QUEUED.value, jobs.c.run_after <= now)
        .order_by(jobs.c.run_after, jobs.c.id)
        .limit(1)
    ).first()
    if row is None:
        return None
    export_id = (row.payload or {}).get("export_id")
    waited = (now - row.run_after).total_seconds()
    return WaitingJob(row.id, row.queue, row.task, export_id, waited)

"""The supervisor: claims jobs, runs each in a warm child process, and owns every write.

One loop, no async: wait for a child message, a child's death, a wake-up (NOTIFY or a
SQLite commit) or the next timer; then settle finished jobs *and* claim new ones in one
transaction (commits dominate a queue's cost), heartbeat the leases of running jobs,
enforce time and memory limits, and run the periodic maintenance this node wins.

Children never write to the queue: the supervisor records progress, outcomes and
leases, so a frozen or killed child cannot corrupt a job, and a supervisor that loses
a lease kills the child that was running it.

It knows no domain: what it runs (tasks and their settle hooks, periodic jobs, rescue,
discard and retention hooks) comes from the :class:`~exportd.queue.app.App` it is given.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
import uuid
from collections import deque
from collections.abc import Iterable, Sequence
from multiprocessing.connection import wait
from types import FrameType
from typing import Any

import structlog
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from exportd.config import Settings
from exportd.db import Database
from exportd.errors import ErrorInfo, driver_message
from exportd.ops import metrics
from exportd.queue import workers
from exportd.queue.app import App, WorkerContext
from exportd.queue.models import Claimed, Job, Outcome
from exportd.queue.notify import watcher_for
from exportd.queue.store import JobStore, LeaseReport
from exportd.wakeup import Wakeup
from exportd.worker.children import Child, LoadMeter
from exportd.worker.claim_notes import ClaimNotes
from exportd.worker.fork_server import ForkServer
from exportd.worker.maintenance import Maintenance
from exportd.worker.outcomes import Finished, Outcomes, log_outcome
from exportd.worker.protocol import outcome_of

log = structlog.get_logger("exportd.worker")

MEMORY_CHECK_S = 0.5
DB_RETRY_MAX_S = 5.0
# Group commit: finished jobs wait at most this long (or for a full batch) to be recorded
# together, unless a claim is due anyway.  Pickup latency does not wait on it.
OUTCOME_DELAY_S = 0.02
OUTCOME_BATCH = 100
# After wake-ups, cancel requests are looked for at most this often: on SQLite every
# commit wakes the worker, its own too (a look each was a seventh of its CPU).
CANCEL_LOOK_S = 0.1


class Supervisor:
    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        store: JobStore,
        app: App,
        concurrency: int,
        queues: Sequence[str] = ("default",),
        fork_server: ForkServer | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.store = store
        self.app = app
        self.context = WorkerContext(settings=settings, db=db, store=store)
        for start in app.start_hooks:  # what cannot be built stops the worker here
            start(self.context)
        self.queues = list(queues)
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.children = [Child(i, app.ref, settings, fork_server) for i in range(concurrency)]
        self.wakeup = Wakeup()
        self.outcomes = Outcomes(app, self.context)
        self.maintenance = Maintenance(app, self.context, node_id=self.worker_id)
        self._outcomes: list[Finished] = []
        self._oldest_outcome = 0.0
        # Claimed jobs waiting for a free child (EXPORTD_WORKER_PREFETCH), and their notes.
        self._backlog: deque[Job] = deque()
        self._notes = ClaimNotes()
        self._progress: dict[Claimed, dict[str, Any]] = {}
        self._stopping = False
        self._stop_deadline = float("inf")
        self._signals: list[str] = []  # received, not yet logged
        self.interrupted = False  # a SIGINT (Ctrl-C) asked it to stop
        self._want_claim = True
        # Set by a wake-up while jobs run: one of them may have been asked to stop.
        self._look_for_cancels = False
        self._next_cancel_look = 0.0
        self._next_poll = self._next_heartbeat = self._next_memory_check = 0.0
        self._load = LoadMeter()
        self._db_backoff = self._db_retry_at = 0.0

    # -- lifecycle ---------------------------------------------------------------------

    def request_stop(self, *, grace_s: float | None = None) -> None:
        """Stop claiming; give running jobs ``grace_s`` to finish, then hand them back."""
        grace = self.settings.worker_shutdown_grace_s if grace_s is None else grace_s
        if self._stopping:
            grace = 0.0  # a second request means now
        self._stopping = True
        self._stop_deadline = min(self._stop_deadline, time.monotonic() + grace)
        self.wakeup.wake()

    def run(self) -> None:
        self._install_signal_handlers()
        watcher = watcher_for(self.db, self.wakeup) if self.settings.worker_wakeups else None
        watching = False
        # Everything after the first child starts is inside the try: children ignore
        # SIGTERM, so one left running would hang this process's exit forever.
        try:
            for child in self.children:
                child.start()
            self._register_when_reachable()
            if watcher is not None:
                watcher.start()
                watching = True
            log.info(
                "worker.started",
                worker_id=self.worker_id,
                concurrency=len(self.children),
                queues=self.queues,
            )
            self._loop()
        finally:
            if watcher is not None and watching:
                watcher.stop()
            for child in self.children:
                child.stop()
            self._unregister()
            self.wakeup.close()
            log.info("worker.stopped", worker_id=self.worker_id)

    def _install_signal_handlers(self) -> None:
        def handle(signum: int, _frame: FrameType | None) -> None:
            # Nothing logged here: a handler runs between any two bytecodes, also inside
            # the logger's write, and a second signal then waited forever on its lock
            # (a worker hung on a burst of SIGTERMs).  The loop logs it.
            self._signals.append(signal.Signals(signum).name)
            self.interrupted = self.interrupted or signum == signal.SIGINT
            self.request_stop()

        try:
            signal.signal(signal.SIGTERM, handle)
            signal.signal(signal.SIGINT, handle)
        except ValueError:
            pass  # not the main thread (tests run supervisors in threads)

    # -- the loop ----------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            while self._signals:
                log.info("worker.stopping", signal=self._signals.pop(0))
            now = time.monotonic()
            busy = [c for c in self.children if c.running is not None]
            if self._stopping and not busy and not self._outcomes and not self._backlog:
                return
            if self._stopping and now >= self._stop_deadline:
                self._hand_back(busy)
                return
            self._enforce_limits(now)
            self._dispatch()
            if now >= self._db_retry_at:
                self._sync_with_database(now)
            self._wait(self._next_timeout(now))

    def _sync_with_database(self, now: float) -> None:
        try:
            self._flush_and_claim(now)
            if self._look_for_cancels and now >= self._next_cancel_look:
                self._forward_cancels()
                self._next_cancel_look = now + CANCEL_LOOK_S
            if now >= self._next_heartbeat:
                self._heartbeat()
                self._next_heartbeat = now + self.settings.job_lease_s / 3
            if not self._stopping:
                self.maintenance.run_due()
            self._db_backoff = 0.0
        except SQLAlchemyError as exc:
            # The database went away (restart, failover, terminated backend): keep the
            # outcomes in memory and try again; the pool reconnects.
            self._db_backoff = min(max(self._db_backoff * 2, 0.05), DB_RETRY_MAX_S)
            self._db_retry_at = time.monotonic() + self._db_backoff
            log.warning(
                "worker.database_unavailable",
                error=type(exc).__name__,
                detail=driver_message(exc),
                retry_in_s=self._db_backoff,
            )

    def _next_timeout(self, now: float) -> float:
        timers = [self._next_poll, self._next_heartbeat]
        if self._db_backoff:
            timers.append(self._db_retry_at)
        if any(c.running for c in self.children):
            timers.append(self._next_memory_check)
            timers.extend(c.running.deadline for c in self.children if c.running)
        if self._stopping:
            timers.append(self._stop_deadline)
        if self._look_for_cancels:
            timers.append(self._next_cancel_look)
        if now < self._db_retry_at:
            return max(0.0, min(timers) - now)
        if self._progress or self._stopping_backlog() or self._claim_due(now):
            return 0.0
        if self._outcomes:
            timers.append(self._oldest_outcome + OUTCOME_DELAY_S)
        return max(0.0, min(timers) - now)

    def _wait(self, timeout: float) -> None:
        sources: list[Any] = [self.wakeup.reader]
        by_source: dict[Any, Child] = {}
        for child in self.children:
            if child.process is None:
                continue
            by_source[child.conn] = child
            by_source[child.sentinel] = child
            sources += [child.conn, child.sentinel]
        for ready in wait(sources, timeout):
            if ready is self.wakeup.reader:
                if self.wakeup.drain():
                    self._want_claim = True
                    self._look_for_cancels = any(c.running for c in self.children)
                continue
            child = by_source[ready]
            if ready is child.conn:
                self._read_messages(child)
            elif not child.process.is_alive():
                self._on_child_exit(child)

    # -- children ----------------------------------------------------------------------

    def _read_messages(self, child: Child) -> None:
        try:
            while child.conn.poll():
                message = child.conn.recv()
                self._on_message(child, message)
        except (EOFError, OSError):
            return  # the sentinel reports the death

    def _on_message(self, child: Child, message: tuple[Any, ...]) -> None:
        if message[0] == "ready":
            child.ready = True
            self._want_claim = True
            return
        running = child.running
        if running is None or (message[1], message[2]) != (
            running.claim.job_id,
            running.claim.attempt,
        ):
            return
        if message[0] == "progress":
            self._progress[running.claim] = message[3]
        elif message[0] == "done":
            self._finish(child, outcome_of(running.claim, message))

    def _finish(self, child: Child, outcome: Outcome) -> None:
        running = child.running
        assert running is not None
        self._progress.pop(outcome.claim, None)
        self._outcomes.append(
            Finished(
                outcome=outcome,
                task=running.job.task,
                correlation_id=running.job.correlation_id,
                duration_s=time.monotonic() - running.started,
            )
        )
        if not self._outcomes[:-1]:
            self._oldest_outcome = time.monotonic()
        child.running = None
        # Claim again only if a job may be waiting: the last claim was full or a wake-up
        # came (both set it already), or this outcome may make one ready (a retry, room
        # under its key's limit); not an empty claim in the settle a client waits on.
        if outcome.error is not None or running.job.fair_limit:
            self._want_claim = True

    def _on_child_exit(self, child: Child) -> None:
        self._read_messages(child)  # a "done" sent just before dying still counts
        running = child.running
        if running is not None and not child.killed_on_purpose:
            code = child.process.exitcode
            reason = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            error = ErrorInfo("worker_crashed", f"the job's process died ({reason})", True)
            self._finish(child, Outcome(claim=running.claim, error=error))
        child.release()
        child.running = None
        if not self._stopping:
            child.start()

    def _kill(self, child: Child, outcome: Outcome | None) -> None:
        """Kill a child on purpose; report ``outcome`` (None: the job is not ours any more)."""
        running = child.running
        child.kill()
        if running is not None and outcome is not None:
            self._finish(child, outcome)
        self._on_child_exit(child)

    def _enforce_limits(self, now: float) -> None:
        check_memory = now >= self._next_memory_check
        if check_memory:
            self._next_memory_check = now + MEMORY_CHECK_S
        for child in self.children:
            outcome = child.over_limit(
                now,
                memory_limit_mb=self.settings.memory_limit_mb if check_memory else None,
                cancel_grace_s=self.settings.job_cancel_grace_s,
            )
            if outcome is not None:
                self._kill(child, outcome)

    def _dispatch(self) -> None:
        """Give backlog jobs to free children (no round trip), each before its metric."""
        if self._stopping:
            return
        for child in self.children:
            if not self._backlog:
                return
            if child.idle:
                job = self._backlog.popleft()
                waited = (self.store.clock.now() - job.run_after).total_seconds()
                timeout = job.timeout_s or self.settings.job_timeout_s
                child.run(job, timeout_s=timeout, note=self._notes.take(job.id))
                metrics.JOB_WAIT.labels(job.task).observe(max(waited, 0.0))

    def _stopping_backlog(self) -> list[Job]:
        return list(self._backlog) if self._stopping else []

    def _held(self) -> list[Claimed]:
        running = [c.running.claim for c in self.children if c.running is not None]
        return running + [Claimed(job.id, job.attempt) for job in self._backlog]

    def _hand_back(self, busy: list[Child]) -> None:
        claims = self._held()
        for child in busy:
            child.kill()
            child.running = None
        try:
            self._flush_and_claim(time.monotonic())
            with self.db.write() as conn:
                released = self.store.release(conn, claims)
            log.info("worker.handed_back", jobs=released)
        except SQLAlchemyError as exc:
            # Their leases will expire and the reaper will requeue them.
            log.warning("worker.hand_back_failed", error=type(exc).__name__, jobs=len(claims))

    # -- the database ------------------------------------------------------------------

    def _wanted(self) -> int:
        """How many jobs to claim: free children plus the prefetch, minus the backlog."""
        if self._stopping:
            return 0
        free = sum(1 for c in self.children if c.idle)
        return max(free + self.settings.worker_prefetch - len(self._backlog), 0)

    def _claim_due(self, now: float) -> bool:
        # Refill the backlog once it is half empty; without prefetch, when a child is free.
        refill = len(self._backlog) <= self.settings.worker_prefetch // 2
        return refill and self._wanted() > 0 and (self._want_claim or now >= self._next_poll)

    def _outcomes_due(self, now: float) -> bool:
        if not self._outcomes:
            return False
        busy = any(c.running for c in self.children) or self._backlog
        return (
            not busy
            or self._stopping
            or len(self._outcomes) >= OUTCOME_BATCH
            or now - self._oldest_outcome >= OUTCOME_DELAY_S
        )

    def _flush_and_claim(self, now: float) -> None:
        """One transaction: settle finished jobs, store progress, hand back, claim more."""
        wanted = self._wanted()
        claim_now = self._claim_due(now)
        release = self._stopping_backlog()
        flush = self._outcomes_due(now) or (claim_now and bool(self._outcomes))
        if not (flush or self._progress or release or claim_now):
            return
        if not (flush or self._progress or release) and not self._has_ready():
            self._want_claim = False
            self._next_poll = now + self.settings.poll_interval_s
            return
        pending = list(self._outcomes) if flush else []
        progress, self._progress = self._progress, {}
        limit = wanted if claim_now else 0

        def and_then(conn: Connection) -> tuple[LeaseReport, list[Job], dict[int, Any]]:
            report = self.store.record_progress_of(conn, progress)
            self.store.release(conn, [Claimed(job.id, job.attempt) for job in release])
            jobs = self.store.claim(conn, worker_id=self.worker_id, queues=self.queues, limit=limit)
            return report, jobs, self.app.claimed(conn, jobs, self.context)

        settled, (report, jobs, notes) = self.outcomes.settle_then(self.db, pending, and_then)
        # Committed.  Only now act on children: acting may produce new outcomes.
        self._outcomes = self._outcomes[len(pending) :]
        if release:
            self._backlog.clear()
        for done, result in zip(pending, settled, strict=True):
            log_outcome(done, result)
            self.outcomes.discard_unkept(done, result)
        self._backlog.extend(jobs)
        self._notes.keep(notes)
        self._dispatch()
        if claim_now:
            # A full batch suggests more work is waiting: ask again as soon as there is room.
            self._want_claim = len(jobs) == limit
            self._next_poll = now + self.settings.poll_interval_s
        self._act_on_leases(cancel=report.cancel_requested, lost=report.lost)

    def _has_ready(self) -> bool:
        # SQLite: a read costs nothing, while a claim takes the database's one write lock.
        if self.db.is_postgres:
            return True
        with self.db.read() as conn:
            return self.store.has_ready(conn, queues=self.queues)

    def _act_on_leases(self, *, cancel: Iterable[Claimed], lost: Iterable[Claimed]) -> None:
        lost, cancel = set(lost), set(cancel)
        for job in [j for j in self._backlog if Claimed(j.id, j.attempt) in lost | cancel]:
            self._backlog.remove(job)
            self._notes.forget(job.id)
            claim = Claimed(job.id, job.attempt)
            if claim in cancel and claim not in lost:
                self._outcomes.append(
                    Finished(Outcome(claim=claim, cancelled=True), job.task, job.correlation_id, 0)
                )
        for claim in lost:
            log.warning("job.lease_lost", job_id=claim.job_id, attempt=claim.attempt)
            self._child_for(claim, lambda child: self._kill(child, None))
        for claim in cancel:
            self._child_for(claim, lambda child: child.cancel())

    def _forward_cancels(self) -> None:
        """Tell children now of cancel requests that came with a wake-up.  Progress
        writes and heartbeats also report them, but a child between progress reports
        (a long batch, a file being zipped, a source slow to answer) would only hear of
        it at the next heartbeat, a third of a lease later."""
        self._look_for_cancels = False
        running = [c.running.claim for c in self.children if c.running is not None]
        with self.db.read() as conn:
            cancel = self.store.cancels_requested(conn, running)
        self._act_on_leases(cancel=cancel, lost=())

    def _heartbeat(self) -> None:
        now, load = self.store.clock.now(), self._load.measure(self.children)  # outside the write
        with self.db.write() as conn:
            report = self.store.extend_leases(conn, self._held())
            workers.heartbeat(conn, self.worker_id, now, load)
        self._act_on_leases(cancel=report.cancel_requested, lost=report.lost)

    def _child_for(self, claim: Claimed, action: Any) -> None:
        for child in self.children:
            if child.running is not None and child.running.claim == claim:
                action(child)
                return

    def _register_when_reachable(self) -> None:
        """Register, waiting for the database while it is away (a restart, a failover):
        a worker started meanwhile waits instead of exiting."""
        me = workers.WorkerInfo(
            id=self.worker_id,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            queues=self.queues,
            concurrency=len(self.children),
        )
        delay = 0.0
        while not self._stopping:
            try:
                with self.db.write() as conn:
                    workers.register(conn, me, self.store.clock.now())
                return
            except SQLAlchemyError as exc:
                delay = min(max(delay * 2, 0.05), DB_RETRY_MAX_S)
                log.warning(
                    "worker.database_unavailable",
                    error=type(exc).__name__,
                    detail=driver_message(exc),
                    retry_in_s=delay,
                )
                time.sleep(delay)  # a stop signal ends the wait: its handler sets _stopping

    def _unregister(self) -> None:
        with contextlib.suppress(SQLAlchemyError), self.db.write() as conn:
            workers.unregister(conn, self.worker_id, self.store.clock.now())

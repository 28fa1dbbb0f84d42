"""A handle on one child process: start, send, kill, measure."""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection
from typing import Any

import psutil
import structlog

from exportd.config import Settings
from exportd.errors import MemoryLimitExceeded, TimeLimitExceeded, classify
from exportd.queue.app import AppRef
from exportd.queue.models import Claimed, Job, Outcome
from exportd.queue.workers import RunningJob, WorkerLoad
from exportd.worker.child import child_main
from exportd.worker.protocol import RunRequest

# spawn, not fork: the supervisor holds threads and database connections that a
# forked child must not inherit.  Children start once and then stay warm.
_CONTEXT = multiprocessing.get_context("spawn")

log = structlog.get_logger("exportd.worker")


@dataclass(slots=True)
class Running:
    job: Job
    claim: Claimed
    started: float
    deadline: float
    cancel_sent_at: float | None = None


class Child:
    def __init__(self, index: int, app: AppRef | None, settings: Settings) -> None:
        self.index = index
        self._app = app
        self._settings = settings
        self.running: Running | None = None
        self.ready = False  # set when the child reports its task modules loaded
        self.conn: Connection
        self.process: Any = None
        # Set when the supervisor killed the child on purpose and already reported why.
        self.killed_on_purpose = False

    def start(self) -> None:
        if self._app is None:
            raise ValueError("a child needs an app it can build (App.ref)")
        parent_end, child_end = _CONTEXT.Pipe(duplex=True)
        self.process = _CONTEXT.Process(
            target=child_main,
            # The supervisor's settings, not the environment read again: the same ones.
            args=(child_end, self._app, self._settings),
            name=f"exportd-child-{self.index}",
            daemon=True,
        )
        with _sigint_blocked():
            self.process.start()
        child_end.close()
        self.conn = parent_end
        self.running = None
        self.ready = False
        self.killed_on_purpose = False

    @property
    def idle(self) -> bool:
        return (
            self.ready
            and self.running is None
            and self.process is not None
            and self.process.is_alive()
        )

    @property
    def sentinel(self) -> int:
        return int(self.process.sentinel)

    def run(self, job: Job, *, timeout_s: float) -> None:
        now = time.monotonic()
        self.running = Running(
            job=job, claim=Claimed(job.id, job.attempt), started=now, deadline=now + timeout_s
        )
        request = RunRequest(
            job.id, job.attempt, job.task, job.payload, job.correlation_id, job.traceparent
        )
        self.conn.send(("run", request))

    def cancel(self) -> None:
        if self.running is not None and self.running.cancel_sent_at is None:
            self.running.cancel_sent_at = time.monotonic()
            claim = self.running.claim
            self.conn.send(("cancel", claim.job_id, claim.attempt))
            log.info("job.cancel_forwarded", job_id=claim.job_id, attempt=claim.attempt)

    def kill(self) -> None:
        """SIGKILL the child (and anything it started, such as a browser)."""
        self.killed_on_purpose = True
        try:
            process = psutil.Process(self.process.pid)
            for grandchild in process.children(recursive=True):
                grandchild.kill()
            process.kill()
        except psutil.NoSuchProcess:
            pass
        self.process.join(timeout=5)

    def over_limit(
        self, now: float, *, memory_limit_mb: int | None, cancel_grace_s: float
    ) -> Outcome | None:
        """The outcome to kill the running job with, if it passed a limit: its time, its
        memory (when ``memory_limit_mb`` is given: checked every so often) or the grace
        a cancelled job has to stop."""
        running = self.running
        if running is None:
            return None
        if now >= running.deadline:
            seconds = running.deadline - running.started
            late = TimeLimitExceeded(f"the job ran past its time limit of {seconds:g} s")
            return Outcome(claim=running.claim, error=classify(late))
        if memory_limit_mb is not None and self.memory_bytes() > memory_limit_mb * 1024 * 1024:
            big = MemoryLimitExceeded(
                f"the job used more than its memory limit of {memory_limit_mb} MB"
            )
            return Outcome(claim=running.claim, error=classify(big))
        if running.cancel_sent_at is not None and now - running.cancel_sent_at >= cancel_grace_s:
            return Outcome(claim=running.claim, cancelled=True)
        return None

    def memory_bytes(self) -> int:
        """Memory of the child and everything below it (a browser, say).

        Proportional set size where the system has it (Linux): pages shared between the
        processes count once in all, not once per process.  Summing plain RSS over
        Chromium's dozen processes counts its shared libraries a dozen times: ~1.4 GB
        for a browser whose real footprint is ~0.7 GB."""
        try:
            process = psutil.Process(self.process.pid)
            return sum(_footprint(p) for p in [process, *process.children(recursive=True)])
        except psutil.NoSuchProcess:
            return 0

    def stop(self, timeout_s: float = 2.0) -> None:
        if self.process is None:
            return
        if not self.ready and self.running is None and self.process.is_alive():
            self.kill()  # still loading (a stop during start-up): no job, nothing to wait for
        if self.process.is_alive():
            with contextlib.suppress(OSError):
                self.conn.send(("stop",))
            self.process.join(timeout=timeout_s)
        if self.process.is_alive():
            self.kill()
        self.conn.close()


def load_of(children: list[Child]) -> WorkerLoad:
    """What the children run and the memory of this process and every child (idle ones
    too: warm children hold their imports), for the heartbeat."""
    sizes = [child.memory_bytes() if child.process is not None else 0 for child in children]
    running = [
        RunningJob(child.running.claim.job_id, child.running.job.task, size)
        for child, size in zip(children, sizes, strict=True)
        if child.running is not None
    ]
    return WorkerLoad(running=running, rss_bytes=_footprint(psutil.Process()) + sum(sizes))


def _footprint(process: psutil.Process) -> int:
    try:
        return int(getattr(process.memory_full_info(), "pss", process.memory_info().rss))
    except psutil.AccessDenied:
        return int(process.memory_info().rss)
    except psutil.NoSuchProcess:
        return 0


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    """A spawned child inherits the blocked mask: a Ctrl-C to the process group while it
    still imports (a second or more) waits there, and ``child_main`` then drops it, where
    it would have printed a traceback.  Here it is only delayed, never lost."""
    # The first spawn starts multiprocessing's resource tracker, which unblocks SIGINT
    # (SIG_UNBLOCK, not a restore) after launching it: start it before blocking.
    resource_tracker.ensure_running()
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)

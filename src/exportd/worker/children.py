"""A handle on one child process: start, send, kill, measure."""

from __future__ import annotations

import atexit
import contextlib
import importlib
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing import forkserver, resource_tracker
from multiprocessing.connection import Connection
from typing import Any

import psutil
import structlog

from exportd.config import Settings
from exportd.errors import MemoryLimitExceeded, TimeLimitExceeded, classify
from exportd.queue.app import AppRef
from exportd.queue.models import Claimed, Job, Outcome
from exportd.queue.workers import RunningJob, WorkerLoad
from exportd.worker.child import Inherited, child_main
from exportd.worker.fork_server import ForkServer
from exportd.worker.protocol import RunRequest

# A fork server, not a fork of the supervisor (which holds threads and database
# connections a child must not inherit) nor a spawn (each child importing everything
# again: ~0.8 s of CPU).  A worker forks its own server as it starts (fork_server.py);
# a supervisor without one (run in a thread) uses multiprocessing's, a fresh
# interpreter that imports the child's modules once.  Each child is a fork of the
# server, ready in milliseconds, sharing those pages; children then stay warm.
_CONTEXT = multiprocessing.get_context("forkserver")

log = structlog.get_logger("exportd.worker")


@dataclass(slots=True)
class Running:
    job: Job
    claim: Claimed
    started: float
    deadline: float
    cancel_sent_at: float | None = None


class Child:
    def __init__(
        self,
        index: int,
        app: AppRef | None,
        settings: Settings,
        fork_server: ForkServer | None = None,
    ) -> None:
        self.index = index
        self._app = app
        self._settings = settings
        self._fork_server = fork_server
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
        # The supervisor's settings, not the environment read again: the same ones.  Its
        # environment and directory as of now, as a spawned child had them (the fork
        # server has those of when it started).
        args = (self._app, self._settings, Inherited.now())
        self.process = self._fork(self._app.factory, child_end, args)
        child_end.close()
        self.conn = parent_end
        self.running = None
        self.ready = False
        self.killed_on_purpose = False

    def _fork(self, factory: str, child_end: Connection, args: tuple[Any, ...]) -> Any:
        """A child from the worker's own fork server; from multiprocessing's where there is
        none (a supervisor in a thread) or it is gone."""
        server = self._fork_server
        if server is not None and server.alive:
            try:
                return server.start(child_main, child_end, args)
            except OSError:
                log.warning("worker.fork_server_gone", pid=server.pid)
        _CONTEXT.set_forkserver_preload(preloaded(factory))
        process = _CONTEXT.Process(
            target=child_main,
            args=(child_end, *args),
            name=f"exportd-child-{self.index}",
            daemon=True,
        )
        with _signals_blocked():
            process.start()
        return process

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

    def run(self, job: Job, *, timeout_s: float, note: Any = None) -> None:
        now = time.monotonic()
        self.running = Running(
            job=job, claim=Claimed(job.id, job.attempt), started=now, deadline=now + timeout_s
        )
        request = RunRequest(
            job.id, job.attempt, job.task, job.payload, job.correlation_id, job.traceparent, note
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
        if memory_limit_mb is not None and self.holds_more_than(memory_limit_mb * 1024 * 1024):
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
        return sum(map(_footprint, self._family()))

    def holds_more_than(self, limit_bytes: int) -> bool:
        """Whether ``memory_bytes`` is over ``limit_bytes``, read cheaply while it is far
        under: a process's PSS is at most its RSS, and RSS is one small read where PSS
        makes the kernel walk every page table (1.4 ms against 0.01 ms for a child of a
        fork server that loaded pyarrow; checked twice a second per running child)."""
        family = self._family()
        if sum(map(_resident, family)) <= limit_bytes:
            return False
        return sum(map(_footprint, family)) > limit_bytes

    def _family(self) -> list[psutil.Process]:
        try:
            process = psutil.Process(self.process.pid)
        except psutil.NoSuchProcess:
            return []
        return [process, *_below(process)]

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
        self.release()

    def release(self) -> None:
        """Close the pipes of a child that is gone.  Its end of the parent sentinel too:
        a child the supervisor took for gone (its fork server died) then exits."""
        self.conn.close()
        with contextlib.suppress(ValueError):  # still running: a kill that did not take
            self.process.close()
        self.process = None


# How often the heartbeat reads memory while the running jobs stay the same.  Reading a
# process's proportional set size makes the kernel walk its page tables: at the heartbeat
# of a short lease (every 0.5 s) that was 40% of an idle supervisor's CPU.
LOAD_REFRESH_S = 5.0


class LoadMeter:
    """What the children run and the memory below this process, for the heartbeat: read
    again when a job starts or ends, otherwise at most every ``refresh_s``."""

    def __init__(
        self, refresh_s: float = LOAD_REFRESH_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._refresh_s, self._clock = refresh_s, clock
        self._load: WorkerLoad | None = None
        self._running: list[tuple[int, int]] = []
        self._read_at = 0.0

    def measure(self, children: list[Child]) -> WorkerLoad:
        now = self._clock()
        running = [child.running.claim for child in children if child.running is not None]
        key = [(claim.job_id, claim.attempt) for claim in running]
        if self._load is None or key != self._running or now - self._read_at >= self._refresh_s:
            self._load, self._running, self._read_at = load_of(children), key, now
        return self._load


def load_of(children: list[Child]) -> WorkerLoad:
    """What the children run, and the memory of this process and everything below it:
    the fork server (the imports the children share), every child (idle ones too: warm
    children hold what they loaded) and what they started."""
    running = [
        RunningJob(child.running.claim.job_id, child.running.job.task, child.memory_bytes())
        for child in children
        if child.running is not None
    ]
    me = psutil.Process()
    return WorkerLoad(running=running, rss_bytes=sum(map(_footprint, [me, *_below(me)])))


def _below(process: psutil.Process) -> list[psutil.Process]:
    try:
        found: list[psutil.Process] = process.children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return found


def _resident(process: psutil.Process) -> int:
    try:
        return int(process.memory_info().rss)
    except psutil.NoSuchProcess:
        return 0


def _footprint(process: psutil.Process) -> int:
    try:
        return int(getattr(process.memory_full_info(), "pss", process.memory_info().rss))
    except psutil.AccessDenied:
        return int(process.memory_info().rss)
    except psutil.NoSuchProcess:
        return 0


def start_fork_server(factory: str) -> ForkServer | None:
    """Start the children's fork server for the app of ``factory``
    (``package.module:function``): a fork of this process once it has imported what the
    children run (fork_server.py).  Call it once the process's environment and umask are
    set, and before it starts a thread or opens a connection.

    A process that already runs a thread must not fork: there, multiprocessing's fork
    server starts (a new interpreter importing the children's modules while this process
    goes on) and None is returned."""
    preload = preloaded(factory)
    if _threads() > 1:
        _CONTEXT.set_forkserver_preload(preload)
        atexit.register(_end_fork_server)  # first: a signal may end this start at its unblocking
        with _signals_blocked():
            forkserver.ensure_running()
        return None
    for module in preload:
        importlib.import_module(module)  # here: the server and every child share them
    with _signals_blocked(tracker=False):
        server = ForkServer(preload)
    atexit.register(server.close)  # after the fork: the children do not inherit it
    return server


def _threads() -> int:
    """Threads in this process, those Python did not start too where the system says."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def _end_fork_server() -> None:
    """At exit: end the fork server, which may still be importing (a worker stopped as
    it started), rather than let it outlive this process, printing a traceback once the
    metrics directory it writes to is removed.  Its children are gone by now; those
    still running would not notice."""
    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)  # not waited for: ours
    if pid is not None:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)  # gone before the directory is


def preloaded(factory: str) -> list[str]:
    """What the fork server imports once for every child: the child's module and the
    module of the app's factory (the composition root, which imports the packages that
    register on it).  Not the plugins' task modules: each child imports those itself."""
    return ["exportd.worker.child", factory.partition(":")[0]]


@contextlib.contextmanager
def _signals_blocked(*, tracker: bool = True) -> Iterator[None]:
    """The fork server starts (at ``start_fork_server`` or the first child) with SIGINT
    and SIGTERM blocked, and keeps them so: a Ctrl-C or a SIGTERM to the process group
    (a terminal, a service manager) cannot end it, nor the children it forks, which are
    born with them blocked.  ``child_main`` ignores both, then unblocks them: one that
    came while the child started is dropped there, where it would have printed a
    traceback.  Here it is only delayed, never lost."""
    # The first start launches multiprocessing's resource tracker, which unblocks
    # SIGINT and SIGTERM (SIG_UNBLOCK, not a restore) after launching it: start it
    # before blocking (multiprocessing's server only).
    if tracker:
        resource_tracker.ensure_running()
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)

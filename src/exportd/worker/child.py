"""The child process: runs one job at a time for its supervisor, for as long as it lives.

Children stay warm between jobs (imports, renderers, fonts).  They ignore SIGINT and
SIGTERM, which a terminal or a service manager sends to the whole process group: only
the supervisor decides when a child stops.  A child whose supervisor vanished exits.

A child is forked from a fork server that imported this module and the app's factory
(children.py).  It builds the supervisor's app from its reference and runs the app's
child set-up with the supervisor's settings before it reports ready.
"""

from __future__ import annotations

import atexit
import dataclasses
import gc
import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.connection import Connection, wait
from typing import Any

from exportd import tracing
from exportd.config import Settings
from exportd.errors import ErrorInfo, ExportdError, JobCancelled, classify, stack_excerpt
from exportd.logs import configure_logging
from exportd.process_exit import exit_quickly
from exportd.queue.app import App, AppRef
from exportd.worker import fork_server
from exportd.worker.protocol import RunRequest

PROGRESS_MIN_INTERVAL_S = 0.2


class ChildContext:
    """What a task sees of its job: ids, progress reporting, cancellation."""

    def __init__(self, conn: Connection, request: RunRequest) -> None:
        self._conn = conn
        self.job_id = request.job_id
        self.attempt = request.attempt
        self.correlation_id = request.correlation_id
        self.claim_note = request.note
        self._cancelled = False
        # Not at once: a job done within the interval reports no progress at all (its
        # outcome says it all), so a small export costs its supervisor no extra write.
        self._last_sent = time.monotonic()

    @property
    def cancel_requested(self) -> bool:
        self._read_cancel()
        return self._cancelled

    def checkpoint(self, **progress: Any) -> None:
        now = time.monotonic()
        if progress and now - self._last_sent >= PROGRESS_MIN_INTERVAL_S:
            self._conn.send(("progress", self.job_id, self.attempt, progress))
            self._last_sent = now
        if self.cancel_requested:
            raise JobCancelled(f"job {self.job_id} was cancelled")

    def _read_cancel(self) -> None:
        while self._conn.poll(0):
            message = self._conn.recv()
            if message[0] == "cancel" and message[1:] == (self.job_id, self.attempt):
                self._cancelled = True


@dataclasses.dataclass(frozen=True, slots=True)
class Inherited:
    """The supervisor's environment and working directory as of a child's start: the
    fork server has those of when it started (a worker never changes them; a test
    process running supervisors may)."""

    environ: dict[str, str]
    cwd: str

    @classmethod
    def now(cls) -> Inherited:
        return cls(dict(os.environ), os.getcwd())

    def apply(self) -> None:
        if os.environ != self.environ:
            os.environ.clear()
            os.environ.update(self.environ)
        if os.getcwd() != self.cwd:
            os.chdir(self.cwd)


def child_main(
    conn: Connection, ref: AppRef, settings: Settings, inherited: Inherited | None = None
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Born with both blocked (children.py): ignored now, so a pending one is dropped.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    _exit_with_parent()
    # What the fork server imported stays shared with it and the other children: the
    # collector no longer walks those objects (a walk writes to every page it visits).
    gc.freeze()
    if inherited is not None:
        inherited.apply()
    try:
        _serve(conn, ref, settings)
    finally:
        # A forked child ends with os._exit: run what registered to run at exit (a
        # tracer's last batch of spans, connections closed, temporary files removed),
        # as a spawned child's interpreter did.
        atexit._run_exitfuncs()


def _serve(conn: Connection, ref: AppRef, settings: Settings) -> None:
    # The supervisor's log format and level (the fork server had structlog's defaults:
    # every level, as console text).
    configure_logging(settings)
    app = ref.load()
    for setup in app.child_setups:
        setup(settings)
    conn.send(("ready",))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            break
        if message[0] == "stop":
            break
        if message[0] == "run":
            conn.send(_run(app, conn, message[1]))
    exit_quickly()  # the supervisor waits for this exit


def _run(app: App, conn: Connection, request: RunRequest) -> tuple[Any, ...]:
    ctx = ChildContext(conn, request)
    result: dict[str, Any] | None = None
    error: ErrorInfo | None = None
    cancelled = False
    with tracing.job_attempt(
        task=request.task,
        job_id=request.job_id,
        attempt=request.attempt,
        correlation_id=request.correlation_id,
        traceparent=request.traceparent,
    ) as span:
        try:
            result = app.tasks.get(request.task).run(ctx, request.payload)
        except JobCancelled:
            cancelled = True
        except BaseException as exc:  # the job's failure is data for the supervisor
            error = dataclasses.replace(classify(exc), stack=stack_excerpt(exc))
            if isinstance(exc, ExportdError):
                result = exc.result  # a partial file the task kept, on request
        outcome = "cancelled" if cancelled else "succeeded" if error is None else "failed"
        span.set("exportd.job.outcome", outcome)
        if error is not None:
            span.set("exportd.error.retryable", error.retryable)
            span.fail(error.code)
    return ("done", request.job_id, request.attempt, result, error, cancelled, span.traceparent)


def _exit_with_parent() -> None:
    """Exit at once when the supervisor dies (SIGKILL, OOM killer): the parent sentinel
    is a pipe whose other end only the supervisor holds.  Not the parent process id:
    a child's parent is the fork server, which lives on while any child does."""
    sentinel = fork_server.parent_sentinel()
    if sentinel is None:
        parent = multiprocessing.parent_process()
        if parent is None or parent.sentinel is None:
            return  # not started by a supervisor (called in this process)
        sentinel = parent.sentinel

    def watch() -> None:
        wait([sentinel])
        os._exit(70)

    threading.Thread(target=watch, name="exportd-parent-watch", daemon=True).start()

"""Background threads that cannot die silently.

A listener thread (the change feed, the worker's wake-ups) that raised something its
own loop did not expect used to end without a word: the poll cache stayed as it was,
or a worker fell back to polling, and nothing said why.  :class:`RestartingThread` logs
the exception and runs the loop again after a backoff; :func:`install_excepthook` logs
any other thread's uncaught exception as a structured event (``serve``, ``worker``,
``demo`` and worker children install it at start).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import structlog

from exportd.wakeup import Wakeup

log = structlog.get_logger("exportd.threads")


class RestartingThread:
    """A daemon thread running ``body`` until ``stop`` is set.  ``body`` returns when
    ``stop`` is set; if it raises (or returns early), ``on_crash`` runs (e.g. the cache
    goes dark) and ``body`` runs again after a delay doubling from ``first_delay_s`` to
    ``max_delay_s`` (back to the first after ``healthy_after_s`` of good running)."""

    def __init__(
        self,
        name: str,
        body: Callable[[], None],
        *,
        stop: threading.Event,
        on_crash: Callable[[], None] | None = None,
        first_delay_s: float = 0.1,
        max_delay_s: float = 30.0,
        healthy_after_s: float = 60.0,
        with_bell: bool = False,
    ) -> None:
        self.name = name
        self._with_bell = with_bell
        self._bell: Wakeup | None = None
        self.restarts = 0
        self._body = body
        self._stop = stop
        self._on_crash = on_crash
        self._first, self._max, self._healthy = first_delay_s, max_delay_s, healthy_after_s
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def bell(self) -> Wakeup:
        if self._bell is None:
            raise RuntimeError(f"{self.name} has no bell (with_bell, and started)")
        return self._bell

    def start(self) -> None:
        if self._with_bell:
            self._bell = Wakeup()
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._bell is not None:
            self._bell.wake()
        self.join(timeout_s)
        if self._bell is not None and not self.is_alive():
            self._bell.close()
            self._bell = None  # a second stop() has nothing to ring

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        delay = self._first
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._body()
            except Exception as exc:
                # The type and the trace, for operators; tracebacks carry no locals.
                log.error(
                    "thread.crashed",
                    thread=self.name,
                    error=type(exc).__name__,
                    restart_in_s=delay,
                    exc_info=exc,
                )
            else:
                if self._stop.is_set():
                    return
                log.error("thread.ended", thread=self.name, restart_in_s=delay)
            self._crashed()
            if time.monotonic() - started > self._healthy:
                delay = self._first
            self._stop.wait(delay)
            delay = min(delay * 2, self._max)
            self.restarts += 1

    def _crashed(self) -> None:
        if self._on_crash is None:
            return
        try:
            self._on_crash()
        except Exception as exc:  # the restart matters more
            log.error("thread.on_crash_failed", thread=self.name, error=type(exc).__name__)


def install_excepthook() -> None:
    """Log a thread's uncaught exception through structlog (one JSON line, with its
    trace) instead of the interpreter's bare print to stderr."""
    threading.excepthook = _log_thread_exception


def _log_thread_exception(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return  # what threading itself ignores
    thread = args.thread.name if args.thread is not None else None
    exc_info = (args.exc_type, args.exc_value, args.exc_traceback)
    log.error(
        "thread.uncaught_exception", thread=thread, error=args.exc_type.__name__, exc_info=exc_info
    )

"""SQLite's writers take turns on a lock of exportd's own instead of SQLite's busy handler.

SQLite lets one write transaction in at a time; the others retry on its busy handler,
which sleeps 1, 2, 5, 10, 15, 20, 25 … ms between tries, so a writer waiting behind a
transaction of a millisecond may sleep 50 ms or more.  Measured in
``bench/small_exports.py`` (8 clients, one API process, one worker): the API's
``BEGIN IMMEDIATE`` waited p50 3.3 ms, p90 54 ms, p99 181 ms.

So every write transaction first takes its turn here: the threads of a process queue on
a lock (woken as it is released), and the processes on the file on an exclusive
``flock`` of ``<database>-writers``, tried every fraction of a millisecond.  It only
orders writers SQLite orders anyway: a writer that does not get its turn within the
busy timeout goes ahead and meets SQLite's own handler, and writers that are not
exportd (the sqlite3 shell) meet it too.  Correctness never depends on this lock.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: the threads of a process still queue
    fcntl = None  # type: ignore[assignment]

from exportd.private import FILE_MODE

# A waiting process tries the file lock this often at first, then up to MAX_TRY_S apart.
FIRST_TRY_S = 0.0001
MAX_TRY_S = 0.001

_QUEUES: dict[str, WriterQueue] = {}
_QUEUES_LOCK = threading.Lock()
_ALL: weakref.WeakSet[WriterQueue] = weakref.WeakSet()  # each is reset in a forked child


def writer_queue(database: str, *, wait_s: float) -> WriterQueue:
    """The queue of the writers of the SQLite file ``database``: one per file and process,
    whichever engines of the process write it."""
    path = os.path.realpath(database)
    with _QUEUES_LOCK:
        queue = _QUEUES.get(path)
        if queue is None:
            queue = _QUEUES[path] = WriterQueue(path + "-writers", wait_s=wait_s)
        return queue


class WriterQueue:
    def __init__(self, lock_path: str, *, wait_s: float) -> None:
        self.lock_path = lock_path
        self.wait_s = wait_s
        self._reset()
        _ALL.add(self)

    def _reset(self) -> None:
        self._threads = threading.Lock()
        self._local = threading.local()
        self._fd: int | None = None
        self._fd_failed = False

    @contextmanager
    def turn(self) -> Iterator[bool]:
        """Hold the writers' turn for a transaction (nested in one thread: already held).
        Yields whether this process's writers and the file's were waited for (False: the
        wait ran out, or there is no file lock to take)."""
        local = self._local
        if getattr(local, "depth", 0):
            local.depth += 1
            try:
                yield local.had_turn
            finally:
                local.depth -= 1
            return
        deadline = time.monotonic() + self.wait_s
        in_process = self._threads.acquire(timeout=self.wait_s)
        on_file = in_process and self._lock_file(deadline)
        local.depth, local.had_turn = 1, on_file
        try:
            yield on_file
        finally:
            local.depth = 0
            if on_file:
                self._unlock_file()
            if in_process:
                self._threads.release()

    def _lock_file(self, deadline: float) -> bool:
        fd = self._file()
        if fd is None:
            return False
        pause = FIRST_TRY_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False  # SQLite's busy handler decides
                time.sleep(pause)
                pause = min(pause * 2, MAX_TRY_S)
            except OSError:
                return False

    def _unlock_file(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _file(self) -> int | None:
        if self._fd is None and not self._fd_failed and fcntl is not None:
            try:
                flags = os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC
                self._fd = os.open(self.lock_path, flags, FILE_MODE)
            except OSError:  # a folder this user may not write: the busy handler decides
                self._fd_failed = True
        return self._fd

    def _after_fork(self) -> None:
        # The child's copy of the descriptor shares the parent's lock: unlocking it would
        # unlock the parent's.  Closing the copy leaves the parent's lock as it is.
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._reset()


def _after_fork_in_child() -> None:
    global _QUEUES_LOCK
    _QUEUES_LOCK = threading.Lock()  # another thread may have held it at the fork
    for queue in list(_ALL):
        queue._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

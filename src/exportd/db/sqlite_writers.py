"""SQLite's writers take turns on a lock of exportd's own instead of SQLite's busy handler.

SQLite lets one write transaction in at a time; the others retry on its busy handler,
which sleeps 1, 2, 5, 10, 15, 20, 25 … ms between tries, so a writer waiting behind a
transaction of a millisecond may sleep 50 ms or more.  Measured in
``bench/small_exports.py`` (8 clients, one API process, one worker): the API's
``BEGIN IMMEDIATE`` waited p90 54 ms, p99 183 ms.

So every write transaction first takes its turn here: the threads of a process queue on
a lock (woken as it is released), and the processes on the file on an exclusive
``flock`` of ``<database>-writers``, tried every fraction of a millisecond.  It only
orders writers SQLite orders anyway: a writer that does not get its turn within the
busy timeout goes ahead and meets SQLite's own handler (so a stuck writer is reported
after up to twice the busy timeout), and writers that are not exportd (the sqlite3
shell) meet it too.  Correctness never depends on this lock.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import structlog

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: the threads of a process still queue
    fcntl = None  # type: ignore[assignment]

from exportd.private import FILE_MODE

log = structlog.get_logger("exportd.db")

# A waiting process tries the file lock this often at first, then up to MAX_TRY_S apart.
FIRST_TRY_S = 0.0001
MAX_TRY_S = 0.001
# A lock file that could not be opened (a folder not writable yet) is tried again after.
REOPEN_AFTER_S = 60.0

# One queue per file and process, for as long as a Database of the file holds it.
_QUEUES: weakref.WeakValueDictionary[str, WriterQueue] = weakref.WeakValueDictionary()
_QUEUES_LOCK = threading.Lock()
_ALL: weakref.WeakSet[WriterQueue] = weakref.WeakSet()  # each is reset in a forked child


def shared_file(database: str | None) -> bool:
    """A file other connections (and processes) open too: not ``:memory:`` or a URI."""
    return bool(database) and database != ":memory:" and not str(database).startswith("file:")


def writer_queue(database: str) -> WriterQueue:
    """The queue of the writers of the SQLite file ``database``, whichever engines of
    this process write it."""
    path = os.path.realpath(database)
    with _QUEUES_LOCK:
        queue = _QUEUES.get(path)
        if queue is None:
            queue = _QUEUES[path] = WriterQueue(path + "-writers")
        return queue


class WriterQueue:
    def __init__(self, lock_path: str) -> None:
        self._file = _LockFile(lock_path)
        self._generation = 0
        self._reset()
        weakref.finalize(self, self._file.close)
        _ALL.add(self)

    @property
    def lock_path(self) -> str:
        return self._file.path

    def _reset(self) -> None:
        self._threads = threading.Lock()
        self._holder: int | None = None  # the thread whose turn it is
        self._had_turn = False
        self._generation += 1

    @contextmanager
    def turn(self, wait_s: float) -> Iterator[bool]:
        """Hold the writers' turn for a transaction, waiting at most ``wait_s``; yields
        whether it was had (False: the wait ran out, or there is no file to lock).  A
        turn taken again in the thread that holds it is held already."""
        me = threading.get_ident()
        if self._holder == me:
            yield self._had_turn
            return
        generation = self._generation
        in_process = False
        try:
            deadline = time.monotonic() + wait_s
            in_process = self._threads.acquire(timeout=wait_s)
            if in_process:
                self._holder = me
                self._had_turn = self._file.lock(deadline)
            yield in_process and self._had_turn
        finally:
            # Whatever thread leaves the turn ends it; a forked child leaving its
            # parent's turn has nothing to end (its locks are new).
            if in_process and generation == self._generation:
                self._holder = None
                self._file.unlock()  # also when the lock was just taken as we were stopped
                self._threads.release()

    def _after_fork(self) -> None:
        self._file.forget_inherited()
        self._reset()


class _LockFile:
    """``<database>-writers``, opened once per process and locked with ``flock``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self._reopen_at = 0.0

    def lock(self, deadline: float) -> bool:
        pause, reopened = FIRST_TRY_S, 0
        while reopened <= 3 and (fd := self._open()) is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False  # SQLite's busy handler decides
                time.sleep(pause)
                pause = min(pause * 2, MAX_TRY_S)
                continue
            except OSError:
                return False
            if not self._replaced(fd):
                return True
            self.close()  # deleted or replaced on disk: lock the file writers open now
            reopened += 1
        return False

    def unlock(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def forget_inherited(self) -> None:
        # A forked child's copy of the descriptor shares its parent's lock: unlocking it
        # would unlock the parent's, closing the copy leaves the parent's as it is.
        self.close()
        self._reopen_at = 0.0

    def _open(self) -> int | None:
        if self._fd is not None or fcntl is None or time.monotonic() < self._reopen_at:
            return self._fd
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        except OSError as exc:  # a folder this user may not write: the busy handler decides
            self._reopen_at = time.monotonic() + REOPEN_AFTER_S
            log.warning("sqlite.writers_lock_unavailable", path=self.path, error=str(exc))
            return None
        if os.fstat(fd).st_mode & 0o077:  # made by someone else, or with another mode
            with contextlib.suppress(OSError):
                os.fchmod(fd, FILE_MODE)
        self._fd = fd
        return fd

    def _replaced(self, fd: int) -> bool:
        try:
            on_disk, held = os.stat(self.path), os.fstat(fd)
        except OSError:
            return True
        return (on_disk.st_dev, on_disk.st_ino) != (held.st_dev, held.st_ino)


def _after_fork_in_child() -> None:
    global _QUEUES_LOCK
    _QUEUES_LOCK = threading.Lock()  # another thread may have held it at the fork
    for queue in list(_ALL):
        queue._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

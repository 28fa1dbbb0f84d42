"""Wake-ups: an idle worker learns of new jobs within milliseconds, polling stays the truth.

PostgreSQL: ``LISTEN`` on a dedicated connection; ``JobStore.enqueue`` issues ``NOTIFY``
in the enqueuing transaction, so it arrives right after the commit.  The listener
reconnects after losing its connection.

SQLite: ``PRAGMA data_version`` changes whenever another connection commits; reading it
is a few microseconds.  It is read when a commit rings the watcher's bell (every exportd
write does, db/sqlite_bells.py), and every 50 ms besides; without bells, every few
milliseconds (slower when idle).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Protocol

import structlog

from exportd.db import Database
from exportd.db.pg_notices import listen_conninfo, wait_for_notices
from exportd.db.sqlite_bells import Bell, Bells
from exportd.queue.store import NOTIFY_CHANNEL
from exportd.threads import RestartingThread
from exportd.wakeup import Wakeup, readable

log = structlog.get_logger("exportd.queue.notify")

APPLICATION_NAME = "exportd-worker-listen"  # the worker's LISTEN, in pg_stat_activity


class Watcher(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


class _Thread:
    def __init__(self, wakeup: Wakeup, name: str, *, with_bell: bool = False) -> None:
        self.wakeup = wakeup
        self._stop = threading.Event()
        # A failure the loop does not handle is logged and the loop starts again; the
        # worker is woken meanwhile, to poll for what the watcher may have missed.
        self._thread = RestartingThread(
            name, self._run, stop=self._stop, on_crash=wakeup.wake, with_bell=with_bell
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._thread.stop()

    def _run(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class PostgresListener(_Thread):
    """LISTENs for enqueue notifications; reconnects with backoff when the server goes."""

    QUIET_LOOK_S = 5.0  # with nothing heard, how often the loop looks at its stop flag

    def __init__(self, wakeup: Wakeup, url: str) -> None:
        # stop() rings the thread's bell: heard at once, with no polling meanwhile.
        super().__init__(wakeup, "exportd-pg-listen", with_bell=True)
        self._conninfo = listen_conninfo(url, application_name=APPLICATION_NAME)

    def _run(self) -> None:
        import psycopg

        bell = self._thread.bell
        delay = 0.1
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    delay = 0.1
                    # Jobs may have arrived while we were not listening.
                    self.wakeup.wake()
                    while not self._stop.is_set():
                        if wait_for_notices(conn, timeout_s=self.QUIET_LOOK_S, bell=bell):
                            self.wakeup.wake()
            except psycopg.Error as exc:
                log.warning("listener.reconnecting", error=type(exc).__name__, delay_s=delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 5.0)


class SqliteWatcher(_Thread):
    """Hears commits to the file.  Each exportd commit rings the watcher's bell
    (db/sqlite_bells.py), and ``PRAGMA data_version`` says whether anything changed: at
    a ring, and every 50 ms besides (for writers that do not ring).  Without a bell it
    is only polled: every 2 ms right after a commit, easing to 10 ms after a quarter of
    a second and to 50 ms after half a minute of quiet.  Every commit counts, the
    worker's own heartbeat too (every third of a lease): with the easing at a second, a
    short lease kept it at 500 looks a second."""

    # (quiet for at least this long, poll this often), the longest quiet first.
    INTERVALS = ((30.0, 0.050), (0.25, 0.010), (0.0, 0.002))
    # With a bell: how often data_version is looked at regardless.
    WITH_BELL_EVERY_S = 0.050

    def __init__(self, wakeup: Wakeup, path: str) -> None:
        # stop() rings the thread's own bell: heard at once, in a wait on the doorbell.
        super().__init__(wakeup, "exportd-sqlite-watch", with_bell=True)
        self._path = path
        self._bells = Bells(path)

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        doorbell = self._bells.listen()
        try:
            last = conn.execute("PRAGMA data_version").fetchone()[0]
            last_change = time.monotonic()
            while not self._stop.is_set():
                if doorbell is None:
                    self._stop.wait(self.interval(time.monotonic() - last_change))
                else:
                    self._wait_for_ring(doorbell)
                version = conn.execute("PRAGMA data_version").fetchone()[0]
                if version != last:
                    last, last_change = version, time.monotonic()
                    self.wakeup.wake()
        finally:
            if doorbell is not None:
                doorbell.close()
            conn.close()

    def _wait_for_ring(self, doorbell: Bell) -> None:
        """Until a commit rings, stop() does, or it is time to look regardless."""
        stop_bell = self._thread.bell
        ready = readable([doorbell.fileno(), stop_bell.fileno()], self.WITH_BELL_EVERY_S)
        if doorbell.fileno() in ready:
            doorbell.drain()
        if stop_bell.fileno() in ready:
            stop_bell.drain()

    @classmethod
    def interval(cls, quiet_s: float) -> float:
        return next(every for after, every in cls.INTERVALS if quiet_s >= after)


def watcher_for(db: Database, wakeup: Wakeup) -> Watcher:
    url = db.engine.url
    if db.is_postgres:
        return PostgresListener(wakeup, url.render_as_string(hide_password=False))
    return SqliteWatcher(wakeup, url.database or ":memory:")

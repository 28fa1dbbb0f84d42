"""Change feeds: they tell a ``RowCache`` about every change to exports and their jobs.

PostgreSQL: triggers (migration 0009) ``NOTIFY exportd_changes`` with ``export:<id>`` or
``job:<id>`` on every change, whoever makes it — the API, a worker, cleanup, psql.  A
thread LISTENs on a connection of its own and proves the path works by sending itself
a ping every second: the cache is live only while pings come back.  Behind PgBouncer in
transaction mode they never do, so the cache stays off there rather than going stale.

SQLite: ``PRAGMA data_version``, read on a connection of its own, changes whenever any
other connection — in any process — commits.  It costs microseconds, so it is read
before every look-up and any change empties the cache: stale rows are never served.
The feed's doorbell (db/sqlite_bells.py), rung by every exportd commit to the file,
tells the long polls when to read it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from typing import Any, Protocol

import structlog

from exportd.db import Database
from exportd.db.pg_notices import listen_conninfo, wait_for_notices
from exportd.db.sqlite_bells import Bell, Bells
from exportd.exports.row_cache import RowCache
from exportd.threads import RestartingThread

log = structlog.get_logger("exportd.exports.changes")

CHANNEL = "exportd_changes"
APPLICATION_NAME = "exportd-changes"
PING_EVERY_S = 1.0
PING_LOST_AFTER_S = 3.0


class ChangeFeed(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


class PostgresChanges:
    ping_channel = CHANNEL  # where pings go (tests send them nowhere)

    def __init__(self, cache: RowCache, url: str) -> None:
        self._cache = cache
        # Named, so an operator sees it in pg_stat_activity.
        self._conninfo = listen_conninfo(url, application_name=APPLICATION_NAME)
        self._stop = threading.Event()
        # Any other failure than a lost connection (handled in _run) is logged, the cache
        # goes dark (changes may go unheard) and the listener starts again.
        self._thread = RestartingThread(
            "exportd-changes", self._run, stop=self._stop, on_crash=cache.go_dark, with_bell=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._thread.stop()
        self._cache.go_dark()

    def _run(self) -> None:
        import psycopg

        delay = 0.1
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as conn:
                    if self._listen(conn):
                        delay = 0.1  # it worked for a while: come back quickly
            except psycopg.Error as exc:
                log.warning("changes.reconnecting", error=type(exc).__name__, delay_s=delay)
            self._cache.go_dark()
            self._stop.wait(delay)
            delay = min(delay * 2, 60.0)

    def _listen(self, conn: Any) -> bool:
        """Until stopped or a ping goes unanswered; whether any ping came back."""
        conn.execute(f"LISTEN {CHANNEL}")
        # Other processes ping on the same channel; ours carry our token.
        token, sent, answered = uuid.uuid4().hex, 0, 0
        sent_at = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if answered == sent and now - sent_at >= PING_EVERY_S:
                sent, sent_at = sent + 1, now
                ping = f"ping:{token}:{sent}"
                conn.execute("SELECT pg_notify(%s, %s)", (self.ping_channel, ping))
            elif answered < sent and now - sent_at > PING_LOST_AFTER_S:
                log.warning(
                    "changes.ping_lost",
                    waited_s=round(now - sent_at, 1),
                    effect="status polls read the database until notices come back",
                    hint="behind PgBouncer in transaction mode set EXPORTD_POLL_CACHE_ROWS=0",
                )
                break
            # Until the next ping is due, or the unanswered one is given up on.
            due = sent_at + (PING_EVERY_S if answered == sent else PING_LOST_AFTER_S)
            wait_s = max(due - time.monotonic(), 0.0) + 0.01
            payloads = [
                n.payload for n in wait_for_notices(conn, timeout_s=wait_s, bell=self._thread.bell)
            ]
            if f"ping:{token}:{sent}" in payloads:
                answered = sent
                if not self._cache.live:
                    self._cache.go_live()
            # A settle's several notices come in one packet: forgotten at once, and the
            # long polls told once.
            changed = [p for p in payloads if not p.startswith("ping:")]
            if changed:
                self._cache.forget(changed)
        return answered > 0


class SqliteChanges:
    """Reads ``data_version`` before each look-up.  A file that cannot be opened at start
    (a volume not mounted yet) leaves the cache dark and is tried again, at most once a
    second, from the look-ups themselves: the API starts and answers meanwhile."""

    RETRY_EVERY_S = 1.0

    def __init__(self, cache: RowCache, path: str) -> None:
        self._cache = cache
        self._path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._version = -1
        self._started = False
        self._next_open = 0.0
        self._bells = Bells(path)
        self.bell: Bell | None = None  # rung by every exportd commit to the file, when made

    def start(self) -> None:
        with self._lock:
            self._started = True
            self._cache.before_get = self._check
            self._open()
            self.bell = self._bells.listen()

    def stop(self) -> None:
        self._cache.go_dark()
        self._cache.before_get = None
        with self._lock:
            self._started = False
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            if self.bell is not None:
                self.bell.close()
                self.bell = None

    def _open(self) -> None:
        """Under the lock: connect, and go live once the version is known."""
        try:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            self._version = self._read(conn)
        except sqlite3.Error as exc:
            self._next_open = time.monotonic() + self.RETRY_EVERY_S
            log.warning("changes.sqlite_unavailable", error=type(exc).__name__)
            return
        self._conn = conn
        self._cache.go_live()

    @staticmethod
    def _read(conn: sqlite3.Connection) -> int:
        return int(conn.execute("PRAGMA data_version").fetchone()[0])

    def _check(self) -> None:
        # Under the lock up to the forgetting: a look-up racing this one must not see
        # the version as unchanged while the stale rows are still there.
        with self._lock:
            if not self._started:
                return
            if self._conn is None:
                if time.monotonic() >= self._next_open:
                    self._open()
                return
            try:
                version = self._read(self._conn)
            except sqlite3.Error:
                version = -1  # cannot tell: assume a change
            if version != self._version or version == -1:
                self._version = version
                self._cache.forget_all()


def changes_for(db: Database, cache: RowCache) -> ChangeFeed | None:
    """The feed for this database; None where there is none (an in-memory SQLite)."""
    url = db.engine.url
    if db.is_postgres:
        return PostgresChanges(cache, url.render_as_string(hide_password=False))
    path = url.database or ""
    if db.is_in_memory or path.startswith("file:"):
        return None
    return SqliteChanges(cache, path)

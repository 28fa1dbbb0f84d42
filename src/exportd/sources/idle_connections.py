"""ADBC connections kept between exports: one idle connection per database, per process.

Opening an ADBC PostgreSQL connection took 73 to 85 ms here (the driver reads the server's
type catalogue; psycopg connects in 5), which was a fifth of a 100,000-row export and
most of a small one.  A worker's child runs one export after another against the same
database, so the connection an export finished with cleanly waits for the next one.

- Only a connection whose read ran to its end comes back; one left mid-stream (a failed
  or cancelled export) is closed, as its protocol state is unknown.
- A connection idle longer than ``MAX_IDLE_S`` is closed rather than reused, and the
  caller retries once on a fresh connection when a kept one fails its first statement
  (the server restarted, or ended the session).
- At most one idle connection per URI: each child holds one more server connection
  than its SQLAlchemy pool, and no more.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

MAX_IDLE_S = 300.0


class IdleConnections:
    def __init__(
        self, *, max_idle_s: float = MAX_IDLE_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max_idle_s = max_idle_s
        self._clock = clock
        self._idle: dict[str, tuple[Any, float]] = {}
        self._lock = threading.Lock()

    def take(self, uri: str, connect: Callable[[], Any]) -> tuple[Any, bool]:
        """A connection to ``uri``, and whether it was kept from an earlier export."""
        with self._lock:
            kept = self._idle.pop(uri, None)
        if kept is not None:
            conn, since = kept
            if self._clock() - since <= self._max_idle_s:
                return conn, True
            close_quietly(conn)
        return connect(), False

    def give_back(self, uri: str, conn: Any) -> None:
        """Keep ``conn`` (whose last read ran to its end) for the next export."""
        with self._lock:
            replaced = self._idle.pop(uri, None)
            self._idle[uri] = (conn, self._clock())
        if replaced is not None:
            close_quietly(replaced[0])

    def close_all(self) -> None:
        with self._lock:
            idle, self._idle = list(self._idle.values()), {}
        for conn, _ in idle:
            close_quietly(conn)


def close_quietly(conn: Any) -> None:
    with contextlib.suppress(Exception):
        conn.close()

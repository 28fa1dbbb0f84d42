"""Export rows kept between status polls, dropped the moment they change.

A poll is the request exportd serves most: clients ask every second or two, and an
export's row changes a few times in its life.  Rows are kept only while a change feed
(``exports.changes``) is live — it reports every change made by any process — and for at
most ``MAX_AGE_S`` whatever happens.  A lost feed empties the cache until it is back.

A read that raced a change must not store what it read: ``put`` takes the
``generation`` seen before the read and stores nothing if anything was forgotten since.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

# A backstop, not the mechanism: even a feed that fails silently serves rows this old.
MAX_AGE_S = 5.0


class RowCache:
    def __init__(self, *, max_rows: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_rows = max_rows
        self._clock = clock
        self._lock = threading.Lock()
        self._rows: OrderedDict[str, tuple[Any, float]] = OrderedDict()
        self._export_of_job: dict[str, str] = {}
        self._generation = 0
        self._live = False
        # Called before every look-up, live or not; a feed that can check cheaply
        # (SQLite) hooks in.
        self.before_get: Callable[[], None] | None = None
        # Told (outside the lock, on the feed's thread) that rows may have changed (long
        # polls listen).
        self.on_change: Callable[[], None] | None = None

    @property
    def live(self) -> bool:
        return self._live

    @property
    def generation(self) -> int:
        return self._generation

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, export_id: str) -> Any | None:
        # Before the live check: a dark feed may use the look-up to come back (SQLite).
        if self.before_get is not None:
            self.before_get()
        if not self._live:
            return None
        with self._lock:
            entry = self._rows.get(export_id)
            if entry is None:
                return None
            row, stored_at = entry
            if self._clock() - stored_at > MAX_AGE_S:
                self._drop(export_id)
                return None
            self._rows.move_to_end(export_id)
            return row

    def put(self, export_id: str, row: Any, *, generation: int) -> None:
        """Keep ``row`` unless the cache is off or forgot anything since ``generation``."""
        with self._lock:
            if not self._live or generation != self._generation:
                return
            self._drop(export_id)
            self._rows[export_id] = (row, self._clock())
            if row.job_id is not None:
                self._export_of_job[str(row.job_id)] = export_id
            while len(self._rows) > self.max_rows:
                self._drop(next(iter(self._rows)))

    def forget(self, keys: Iterable[str]) -> None:
        """``keys`` as the feed names them: ``export:<id>`` or ``job:<id>``."""
        with self._lock:
            self._generation += 1
            for key in keys:
                kind, _, ident = key.partition(":")
                if kind == "job":
                    ident = self._export_of_job.get(ident, "")
                self._drop(ident)
        self._tell()

    def forget_all(self) -> None:
        self._reset()

    def go_live(self) -> None:
        """The feed is listening: from now on every change is reported."""
        self._reset(live=True)

    def go_dark(self) -> None:
        """The feed stopped or lost its connection: changes may go unreported."""
        self._reset(live=False)

    def _reset(self, *, live: bool | None = None) -> None:
        with self._lock:
            self._generation += 1
            self._rows.clear()
            self._export_of_job.clear()
            if live is not None:
                self._live = live
        self._tell()

    def _tell(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def _drop(self, export_id: str) -> None:
        entry = self._rows.pop(export_id, None)
        if entry is not None and entry[0].job_id is not None:
            self._export_of_job.pop(str(entry[0].job_id), None)

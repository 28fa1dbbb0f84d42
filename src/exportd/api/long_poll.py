"""Long polls: ``GET /v1/exports/{id}`` with ``Prefer: wait=N`` and the export's current
ETag in ``If-None-Match`` waits up to N seconds for the export to change, instead of
answering 304 at once.  The client hears of a change within milliseconds, with one
request per change rather than one per interval.

Waiters do not each read the database.  One task per API process reads the rows of every
export waited for, in one query, when something may have changed — a change feed's
notice (PostgreSQL), a new SQLite ``data_version`` (read when a commit rings the feed's
doorbell, and every few milliseconds while anyone waits where there is none), a write by
this process — and at least every ``events_poll_interval_s`` (a feed may be dark or off).
A waiter whose export's version moved gets its new row; its ETag decides whether the
client hears of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import weakref
from asyncio import FIRST_COMPLETED
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, NamedTuple

import structlog
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from exportd.db.sqlite_bells import Bell

log = structlog.get_logger("exportd.api")

# A waiter reads its export at least this often: a few of its fields follow the clock
# (an export expires at ``expires_at``), not a write.
RECHECK_S = 5.0
# How often SQLite's data_version is read while anyone waits, by how long it has been
# quiet (the longest quiet first): every 2 ms right after a change, easing to 10 ms after
# a quarter of a second and 50 ms after half a minute.  Half the interval is what a
# change waits on average before its waiters hear of it; each look costs the API process
# about 0.1 ms of CPU (an event loop turn), 5% of a core at every 2 ms.
FEED_CHECKS = ((30.0, 0.050), (0.25, 0.010), (0.0, 0.002))
# With SQLite's doorbell (db/sqlite_bells.py) a commit by any exportd process rings it, and
# data_version is read at the ring: besides, only this often (writers that do not ring).
RUNG_FEED_CHECK_S = 0.050


def feed_check_s(quiet_s: float) -> float:
    return next(every for after, every in FEED_CHECKS if quiet_s >= after)


# Delta-seconds: a number too large to hold is the largest there is (RFC 9110 §1.2.2),
# here the cap; ignored, it made a client that asked for "forever" poll in a tight loop.
_WAIT = re.compile(r"[0-9]+")
_ALL: weakref.WeakSet[ExportWaits] = weakref.WeakSet()


def preferred_wait(prefer: str | None, *, max_s: float) -> float:
    """The seconds a ``Prefer`` header's ``wait`` asks for (RFC 7240), at most ``max_s``;
    0 when it asks for none.  Preferences it cannot read are ignored, as the RFC says."""
    for preference in (prefer or "").split(","):
        token, _, value = preference.split(";", 1)[0].partition("=")
        value = value.strip().strip('"')
        if token.strip().lower() == "wait" and _WAIT.fullmatch(value):
            return min(float(value), max_s)
    return 0.0


class ExportWaits:
    """The exports long polls wait on, woken when their version moves."""

    def __init__(
        self,
        *,
        rows: Callable[[list[str]], dict[str, Any]],
        version_of: Callable[[Any], datetime],
        check_every_s: float,
        poll_feed: Callable[[], Callable[[], None] | None] = lambda: None,
        feed_bell: Callable[[], Bell | None] = lambda: None,
    ) -> None:
        self._rows = rows
        self._version_of = version_of
        self._check_every_s = check_every_s
        # SQLite's feed is read on demand: the check to run each tick (None: it pushes).
        self._poll_feed = poll_feed
        # And its doorbell, when it has one: the feed is read when it rings.
        self._feed_bell = feed_bell
        self._waiting: dict[str, list[tuple[datetime, asyncio.Future[Any]]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pause: asyncio.Future[None] | None = None  # the watch's, while it pauses
        self._dirty = False
        self._rung = False  # the feed's bell rang since the feed was last read
        self._joined_at = 0.0  # when a waiter last came: its export may change soon
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        _ALL.add(self)

    def something_changed(self) -> None:
        """From any thread: look at the versions again soon."""
        self._dirty = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            # RuntimeError: the loop closed meanwhile, so nobody waits any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._end_pause)

    def _end_pause(self) -> None:
        if self._pause is not None and not self._pause.done():
            self._pause.set_result(None)

    async def changed(
        self,
        export_id: str,
        seen: datetime,
        timeout_s: float,
        *,
        or_: asyncio.Future[None],
        new_wait: bool = True,
    ) -> Any | None:
        """Once ``export_id``'s version is no longer ``seen``: its new row (None when it
        may have changed: read it).  None as well when ``or_`` is done, after
        ``timeout_s``, and at once when the API is stopping.  ``new_wait``: a client's
        first wait, not one it goes on with (after a change, or to read its export
        again): its export may change soon, so the feed is looked at often again."""
        if self._closed or timeout_s <= 0:
            return None
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            # A watch of its own on this loop (another loop's, in tests, is left behind).
            self._loop, self._pause = loop, None
            self._task = loop.create_task(self._watch())
        future: asyncio.Future[Any] = loop.create_future()
        waiters = self._waiting.setdefault(export_id, [])
        waiters.append((seen, future))
        if new_wait:
            self._joined_at = time.monotonic()
        try:
            await asyncio.wait([future, or_], timeout=timeout_s, return_when=FIRST_COMPLETED)
        finally:
            waiters.remove((seen, future))
            if not waiters:
                self._waiting.pop(export_id, None)
        return future.result() if future.done() else None

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """From any thread: the API is stopping; every wait ends now."""
        self._closed = True
        self.something_changed()

    async def aclose(self, timeout_s: float = 5.0) -> None:
        """``close``, then wait (a while) for the watch to end: a read it has in flight
        holds a pooled connection, which must be back before the database is disposed."""
        self.close()
        task = self._task
        if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), timeout_s)

    async def _watch(self) -> None:
        bell = self._feed_bell()
        if bell is None:
            await self._watch_feed(rung=False)
            return
        loop = asyncio.get_running_loop()
        loop.add_reader(bell.fileno(), self._rang, bell)
        try:
            await self._watch_feed(rung=True)
        finally:
            loop.remove_reader(bell.fileno())

    def _rang(self, bell: Bell) -> None:
        """A commit rang the feed's bell: read the feed now (a ring while the feed is
        read or rows are, no pause follows)."""
        bell.drain()
        self._rung = True
        self._end_pause()

    async def _watch_feed(self, *, rung: bool) -> None:
        next_full = last_change = 0.0
        while self._waiting:
            if self._closed:
                self._wake(None)
                return
            check = self._poll_feed()
            self._rung = False
            if check is not None:
                check()  # a new data_version calls something_changed, synchronously
            now = time.monotonic()
            if self._dirty:
                last_change = now
            if self._dirty or now >= next_full:
                self._dirty = False
                next_full = now + self._check_every_s
                self._wake(await self._read(list(self._waiting)))
            if check is not None and rung:
                pause = RUNG_FEED_CHECK_S
            elif check is not None:
                pause = feed_check_s(time.monotonic() - max(last_change, self._joined_at))
            else:
                pause = next_full - time.monotonic()
            if not (self._dirty or self._rung) and pause > 0:
                await self._paused(pause)

    async def _paused(self, seconds: float) -> None:
        """Until ``seconds`` pass or something changes.  A future and a timer: on SQLite
        this runs 500 times a second while anyone waits, and ``wait_for`` on an event
        (a task, a timer and a cancellation each time) made idle waits cost 9% of a core."""
        loop = asyncio.get_running_loop()
        self._pause = pause = loop.create_future()
        timer = loop.call_later(seconds, self._end_pause)
        try:
            await pause
        finally:
            timer.cancel()
            self._pause = None

    async def _read(self, export_ids: list[str]) -> dict[str, Any] | None:
        try:
            return await run_in_threadpool(self._rows, export_ids)
        except Exception as exc:  # the database is away: waiters read (and answer) themselves
            log.warning("long_poll.read_failed", error=type(exc).__name__)
            return None

    def _wake(self, rows: dict[str, Any] | None) -> None:
        """Wake the waiters whose export moved, with its row (all of them, without one,
        when ``rows`` is None; one whose export is gone, without one)."""
        for export_id, waiters in self._waiting.items():
            row = None if rows is None else rows.get(export_id)
            for seen, future in waiters:
                moved = row is None or self._version_of(row) != seen
                if moved and not future.done():
                    future.set_result(row)


class Current(NamedTuple):
    """An export as a poll answers it."""

    body: bytes
    etag: str
    version: datetime
    final: bool  # it will not change again but to expire or go


async def hold_while_unchanged(
    request: Request,
    waits: ExportWaits,
    export_id: str,
    current: Current,
    read: Callable[[Any | None], Awaitable[Current]],
    wait_s: float,
    *,
    until_final: bool = False,
) -> Current:
    """``current`` once it differs from what the client has (its ``If-None-Match``), or
    as it is after ``wait_s`` seconds, when the client goes or when the API stops.
    ``until_final``: once it is final instead, through any changes before (one answer
    where a client that wants only the outcome would otherwise ask once per change).
    ``read`` makes it from a row the waits read, or (given None) reads it."""
    asked = request.headers.get("if-none-match", "")

    def answered(export: Current) -> bool:
        return export.final if until_final else export.etag not in asked

    if answered(current):
        return current  # nothing to wait for
    deadline = time.monotonic() + wait_s
    first = True
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        while not answered(current) and not gone.done():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or waits.closed:
                break
            row = await waits.changed(
                export_id, current.version, min(remaining, RECHECK_S), or_=gone, new_wait=first
            )
            first = False
            current = await read(row)
    finally:
        gone.cancel()
    return current


def end_all_waits() -> None:
    """The server is stopping (its signal handler calls this): answer every long poll."""
    for waits in list(_ALL):
        waits.close()


async def _disconnected(request: Request) -> None:
    """Return when the client has gone (a GET has no body: what comes is the disconnect)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass

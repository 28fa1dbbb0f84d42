"""Background threads do not die silently: a fault their loop did not expect is logged
and the loop starts again, still doing its job; any other thread's uncaught exception
is a structured log event in a process that configured its logs."""

from __future__ import annotations

import itertools
import json
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from structlog.testing import capture_logs

from exportd.db import Database
from exportd.exports.changes import CHANNEL, PostgresChanges
from exportd.exports.row_cache import RowCache
from exportd.queue import notify
from exportd.queue.notify import PostgresListener, SqliteWatcher
from exportd.queue.store import NOTIFY_CHANNEL
from exportd.wakeup import Wakeup

ROOT = Path(__file__).resolve().parents[2]

pg_only = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def fail_once(real: Callable[..., Any]) -> Callable[..., Any]:
    """``real``, except that its first call raises (a bug, a surprise of a driver)."""
    calls = 0

    def flaky(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("injected fault")
        return real(*args, **kwargs)

    return flaky


def crashes(logged: list[dict[str, Any]], thread: str) -> list[dict[str, Any]]:
    return [e for e in logged if e["event"] == "thread.crashed" and e["thread"] == thread]


class CachedRow:
    job_id = None  # what the cache needs of a row


def notify_pg(db: Database, channel: str, payload: str) -> None:
    with db.write() as conn:
        conn.execute(text("SELECT pg_notify(:c, :p)"), {"c": channel, "p": payload})


@pg_only
def test_the_change_listener_logs_a_fault_restarts_and_still_invalidates(db: Database) -> None:
    cache = RowCache(max_rows=10)
    cache.forget = fail_once(cache.forget)  # type: ignore[method-assign]
    feed = PostgresChanges(cache, db.engine.url.render_as_string(hide_password=False))
    with capture_logs() as logged:
        feed.start()
        try:
            wait_for(lambda: cache.live)
            notify_pg(db, CHANNEL, "export:first")  # the listener's forget() raises
            wait_for(lambda: bool(crashes(logged, "exportd-changes")))
            wait_for(lambda: cache.live)  # restarted, listening, pinging again
            cache.put("second", CachedRow(), generation=cache.generation)
            assert cache.get("second") is not None
            notify_pg(db, CHANNEL, "export:second")  # heard after the restart
            wait_for(lambda: cache.get("second") is None)
        finally:
            feed.stop()
    [crash] = crashes(logged, "exportd-changes")
    assert crash["error"] == "RuntimeError"
    assert crash["log_level"] == "error"
    assert "injected fault" in str(crash["exc_info"])


@pg_only
def test_the_queue_listener_logs_a_fault_restarts_and_still_wakes(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    wakeup = Wakeup()
    listener = PostgresListener(wakeup, db.engine.url.render_as_string(hide_password=False))
    monkeypatch.setattr(wakeup, "wake", fail_once(wakeup.wake))
    with capture_logs() as logged:
        listener.start()
        try:
            # Its first wake-up (after LISTEN) raises; the restarted loop listens again.
            wait_for(lambda: bool(crashes(logged, "exportd-pg-listen")))
            # Until the restarted loop listens again, a NOTIFY goes unheard: send until
            # one wakes the worker (the crash's own wake-up is drained each time).
            send = lambda: notify_pg(db, NOTIFY_CHANNEL, "default")  # noqa: E731
            assert woken_by(send, wakeup)
            assert woken_by(send, wakeup)  # and again: nothing else wakes it by now
        finally:
            listener.stop()
            wakeup.close()


@sqlite_only
def test_the_sqlite_watcher_logs_a_fault_restarts_and_still_wakes(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notify.sqlite3, "connect", fail_once(notify.sqlite3.connect))
    wakeup = Wakeup()
    watcher = SqliteWatcher(wakeup, str(db.engine.url.database))
    with capture_logs() as logged:
        watcher.start()
        try:
            wait_for(lambda: bool(crashes(logged, "exportd-sqlite-watch")))

            def commit() -> None:  # another connection commits
                with db.write() as conn:
                    conn.execute(text("CREATE TABLE IF NOT EXISTS t (x)"))
                    conn.execute(text("INSERT INTO t VALUES (1)"))

            assert woken_by(commit, wakeup)
            assert woken_by(commit, wakeup)  # and again: nothing else wakes it by now
        finally:
            watcher.stop()
            wakeup.close()


def woken_by(act: Callable[[], None], wakeup: Wakeup, timeout_s: float = 5.0) -> bool:
    """Whether ``act`` (repeated while unheard) wakes ``wakeup`` within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        wakeup.drain()  # earlier wake-ups (the crash's own) do not count
        act()
        readable, _, _ = select.select([wakeup.reader], [], [], 0.3)
        if readable and wakeup.drain():
            return True
    return False


def test_a_restarting_thread_backs_off_and_stops() -> None:
    from exportd.threads import RestartingThread

    stop = threading.Event()
    started: list[float] = []

    def always_fails() -> None:
        started.append(time.monotonic())
        raise ValueError("still broken")

    thread = RestartingThread("t", always_fails, stop=stop, first_delay_s=0.05, max_delay_s=0.2)
    with capture_logs():
        thread.start()
        wait_for(lambda: len(started) >= 5)
        stop.set()
        thread.join(timeout=2)
    assert not thread.is_alive()
    gaps = [b - a for a, b in itertools.pairwise(started)]
    assert gaps[0] >= 0.05
    assert gaps[1] >= 0.1  # doubled
    assert all(gap < 1.0 for gap in gaps)  # capped near max_delay_s


def test_a_thread_with_a_bell_stops_twice_quietly() -> None:
    from exportd.threads import RestartingThread

    stop = threading.Event()
    thread = RestartingThread("t", lambda: stop.wait(), stop=stop, with_bell=True)
    thread.start()
    thread.stop(timeout_s=2)
    thread.stop(timeout_s=2)  # its bell was closed the first time: nothing to ring
    assert not thread.is_alive()


@pytest.fixture
def excepthook() -> Iterator[None]:
    from exportd.threads import install_excepthook

    saved = threading.excepthook
    install_excepthook()
    yield
    threading.excepthook = saved


@pytest.mark.usefixtures("excepthook")
def test_the_excepthook_logs_an_uncaught_thread_exception() -> None:
    def boom() -> None:
        raise KeyError("lost")

    with capture_logs() as logged:
        thread = threading.Thread(target=boom, name="exportd-doomed")
        thread.start()
        thread.join()
    [event] = [e for e in logged if e["event"] == "thread.uncaught_exception"]
    assert event["thread"] == "exportd-doomed"
    assert event["error"] == "KeyError"
    assert event["log_level"] == "error"


def test_a_process_that_configured_its_logs_writes_thread_exceptions_as_json_lines(
    tmp_path: Path,
) -> None:
    """What serve, worker and demo do first (configure_logging), in a real process."""
    script = (
        "from exportd.config import load_settings\n"
        "from exportd.logs import configure_logging\n"
        "import threading\n"
        "configure_logging(load_settings())\n"
        "t = threading.Thread(target=lambda: 1 / 0, name='exportd-doomed')\n"
        "t.start(); t.join()\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), str(ROOT)])),
        "EXPORTD_LOG_FORMAT": "json",
        "EXPORTD_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    [event] = [e for e in lines if e["event"] == "thread.uncaught_exception"]
    assert event["thread"] == "exportd-doomed"
    assert event["error"] == "ZeroDivisionError"
    assert "ZeroDivisionError" in event["exception"]  # the trace, as text in the line
    assert "Exception in thread" not in done.stderr  # not the interpreter's bare print

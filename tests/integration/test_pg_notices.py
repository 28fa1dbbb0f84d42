"""PostgreSQL notices are waited for with poll(), not psycopg's timed wait: a listener
with nothing to hear does not wake 20 times a second (each psycopg wait that timed out
cost about 1 ms of CPU), hears a notice at once, and stops at once when asked."""

from __future__ import annotations

import os
import select
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import text

from exportd.db import Database, pg_notices
from exportd.db.pg_notices import listen_conninfo, wait_for_notices
from exportd.exports import changes
from exportd.exports.changes import CHANNEL, PostgresChanges
from exportd.exports.row_cache import RowCache
from exportd.queue import notify
from exportd.queue.notify import PostgresListener
from exportd.queue.store import NOTIFY_CHANNEL
from exportd.wakeup import Wakeup

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.parametrize("database_url", ["postgres"], indirect=True),
]


@pytest.fixture
def bell() -> Iterator[Wakeup]:
    bell = Wakeup()
    yield bell
    bell.close()


@pytest.fixture
def listening(db: Database) -> Iterator[Any]:
    import psycopg

    url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    conn = psycopg.connect(url, autocommit=True)
    try:
        conn.execute("LISTEN exportd_test_notices")
        yield conn
    finally:
        conn.close()  # not ``with``: its exit commits, which a lost connection refuses


def send(db: Database, payload: str, channel: str = "exportd_test_notices") -> None:
    with db.write() as conn:
        conn.execute(text("SELECT pg_notify(:c, :p)"), {"c": channel, "p": payload})


def test_a_notice_that_comes_during_the_wait_ends_it(
    db: Database, listening: Any, bell: Wakeup
) -> None:
    sender = threading.Timer(0.2, send, (db, "later"))
    sender.start()
    started = time.monotonic()
    notes = wait_for_notices(listening, timeout_s=5, bell=bell)
    sender.join()  # its connection back in the pool before the database goes
    assert [n.payload for n in notes] == ["later"]
    assert time.monotonic() - started < 2


def test_notices_already_received_come_at_once(listening: Any, bell: Wakeup) -> None:
    # Its own notices reach a session with its statement's result: psycopg reads them
    # then and keeps them aside, and nothing is left on the socket to wake a wait.
    listening.execute("NOTIFY exportd_test_notices, 'first'")
    listening.execute("NOTIFY exportd_test_notices, 'second'")
    assert not select.select([listening.fileno()], [], [], 0)[0]
    notes = wait_for_notices(listening, timeout_s=5, bell=bell)
    assert [n.payload for n in notes] == ["first", "second"]
    assert wait_for_notices(listening, timeout_s=0.05, bell=bell) == []


def test_a_connection_numbered_past_1023_is_waited_on(db: Database, bell: Wakeup) -> None:
    # select() refuses such descriptors; an API process with many clients has them.
    import psycopg

    url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    filler = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.fileno() >= 1024
            conn.execute("LISTEN exportd_test_notices")
            threading.Timer(0.1, bell.wake).start()
            assert wait_for_notices(conn, timeout_s=5, bell=bell) == []  # the bell ended it
            send(db, "high")
            assert [n.payload for n in wait_for_notices(conn, timeout_s=5, bell=bell)] == ["high"]
    finally:
        for fd in filler:
            os.close(fd)


def test_the_bell_ends_the_wait_and_is_silenced(listening: Any, bell: Wakeup) -> None:
    threading.Timer(0.2, bell.wake).start()
    started = time.monotonic()
    assert wait_for_notices(listening, timeout_s=5, bell=bell) == []
    assert time.monotonic() - started < 2
    assert not bell.drain()  # the wait took the ring: the next one waits again


def test_a_lost_connection_raises(db: Database, listening: Any, bell: Wakeup) -> None:
    import psycopg

    with db.write() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": listening.info.backend_pid})

    def wait_twice() -> None:
        # The first wait may only read the server's last words; the next one raises.
        for _ in range(2):
            wait_for_notices(listening, timeout_s=2, bell=bell)

    with pytest.raises(psycopg.OperationalError):
        wait_twice()


def wait_until(condition: Callable[[], object], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def seconds_to_stop(listener: PostgresListener | PostgresChanges) -> float:
    started = time.monotonic()
    listener.stop()
    return time.monotonic() - started


def counting(monkeypatch: pytest.MonkeyPatch, module: Any) -> list[float]:
    """Each time ``module``'s listener starts waiting for notices."""
    calls: list[float] = []
    real: Callable[..., list[Any]] = pg_notices.wait_for_notices

    def counted(*args: Any, **kwargs: Any) -> list[Any]:
        calls.append(time.monotonic())
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "wait_for_notices", counted)
    return calls


def test_an_idle_queue_listener_does_not_poll_and_stops_at_once(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits = counting(monkeypatch, notify)
    wakeup = Wakeup()
    listener = PostgresListener(wakeup, db.engine.url.render_as_string(hide_password=False))
    listener.start()
    try:
        wait_until(lambda: waits, 5, "the listener did not start waiting")
        time.sleep(1.5)  # nothing to hear
        assert len(waits) == 1  # one wait, still going (it polled 20 times a second)
        wakeup.drain()
        send(db, "default", NOTIFY_CHANNEL)
        wait_until(wakeup.drain, 2, "the notice did not wake the worker")
    finally:
        stopped_in = seconds_to_stop(listener)
        wakeup.close()
    assert stopped_in < 1.0  # not the quiet wait's 5 s


def test_the_change_feed_wakes_only_for_its_pings_when_nothing_changes(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits = counting(monkeypatch, changes)
    cache = RowCache(max_rows=10)
    feed = PostgresChanges(cache, db.engine.url.render_as_string(hide_password=False))
    feed.start()
    try:
        wait_until(lambda: cache.live, 5, "the feed's first ping did not come back")
        before = len(waits)
        time.sleep(2.0)
        # A ping a second and its answer: about two waits a second (it was 20).
        assert len(waits) - before <= 6
        assert cache.live
        cache.put("x", type("Row", (), {"job_id": None})(), generation=cache.generation)
        send(db, "export:x", CHANNEL)
        wait_until(lambda: cache.get("x") is None, 2, "the change was not heard")
    finally:
        stopped_in = seconds_to_stop(feed)
    assert stopped_in < 1.0


def test_the_notices_of_one_commit_are_forgotten_and_told_at_once(db: Database) -> None:
    cache = RowCache(max_rows=10)
    told: list[float] = []
    cache.on_change = lambda: told.append(time.monotonic())
    forgotten: list[list[str]] = []
    real_forget = cache.forget
    cache.forget = lambda keys: (forgotten.append(list(keys)), real_forget(keys))[1]  # type: ignore[method-assign]
    feed = PostgresChanges(cache, db.engine.url.render_as_string(hide_password=False))
    feed.start()
    try:
        wait_until(lambda: cache.live, 5, "the feed's first ping did not come back")
        told.clear()
        with db.write() as conn:  # one commit: its notices arrive together
            for key in ("job:1", "export:a", "export:b"):
                conn.execute(text("SELECT pg_notify(:c, :p)"), {"c": CHANNEL, "p": key})
        wait_until(lambda: forgotten, 2, "the notices were not heard")
        time.sleep(0.1)
        told_before_stop = len(told)  # stopping tells too (the cache goes dark)
    finally:
        seconds_to_stop(feed)
    assert forgotten == [["job:1", "export:a", "export:b"]]
    assert told_before_stop == 1


def test_a_feed_never_started_holds_no_sockets(db: Database) -> None:
    # An API app made without its lifespan run (tests do) must leave nothing open.
    wakeup = Wakeup()
    feed = PostgresChanges(RowCache(max_rows=1), db.engine.url.render_as_string())
    listener = PostgresListener(wakeup, db.engine.url.render_as_string())
    for thread in (feed._thread, listener._thread):
        with pytest.raises(RuntimeError, match="no bell"):
            thread.bell  # noqa: B018
    wakeup.close()


def test_listening_connections_are_named_and_kept_alive(db: Database) -> None:
    import psycopg

    url = db.engine.url.render_as_string(hide_password=False)
    for application_name in ("exportd-changes", "exportd-worker-listen"):
        with psycopg.connect(listen_conninfo(url, application_name=application_name)) as conn:
            sent = conn.info.get_parameters()
            assert sent["keepalives"] == "1"
            assert int(sent["keepalives_idle"]) * 3 < 120  # gone within about a minute
            name = conn.execute("SELECT current_setting('application_name')").fetchone()
            assert name == (application_name,)
    own = db.engine.url.update_query_dict({"keepalives_idle": "7"})
    with psycopg.connect(
        listen_conninfo(own.render_as_string(hide_password=False), application_name="x")
    ) as conn:
        assert conn.info.get_parameters()["keepalives_idle"] == "7"  # the URL's own wins
    wakeup = Wakeup()
    listener = PostgresListener(wakeup, url)
    wakeup.close()
    assert listener._conninfo == listen_conninfo(url, application_name=notify.APPLICATION_NAME)

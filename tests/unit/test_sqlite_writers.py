"""SQLite's writers take turns on exportd's own lock (db/sqlite_writers.py): threads of a
process one at a time, processes one at a time on the file's lock, a wait that runs out
goes ahead (SQLite's busy handler decides), and a forked child neither holds nor frees
its parent's turn."""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import text

from exportd.config import load_settings
from exportd.db import create_database, sqlite_writers
from exportd.db.sqlite_writers import WriterQueue, writer_queue

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork (POSIX)")


def test_threads_of_a_process_write_one_at_a_time(tmp_path: Path) -> None:
    queue = WriterQueue(str(tmp_path / "db-writers"))
    inside, most = 0, 0
    guard = threading.Lock()

    def write() -> None:
        nonlocal inside, most
        for _ in range(20):
            with queue.turn(5) as had_turn:
                assert had_turn
                with guard:
                    inside += 1
                    most = max(most, inside)
                time.sleep(0.0005)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=write) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 1


def test_a_nested_write_in_the_same_thread_does_not_wait_on_itself(tmp_path: Path) -> None:
    queue = WriterQueue(str(tmp_path / "db-writers"))
    started = time.monotonic()
    with queue.turn(5) as outer, queue.turn(5) as inner:
        assert outer
        assert inner
    assert time.monotonic() - started < 1


def _hold_turn(lock_path: str, ready: multiprocessing.synchronize.Event, hold_s: float) -> None:
    with WriterQueue(lock_path).turn(5) as had_turn:
        assert had_turn
        ready.set()
        time.sleep(hold_s)


def _wait_behind_a_holder(tmp_path: Path, *, hold_s: float, wait_s: float) -> tuple[bool, float]:
    """Another process holds the turn for ``hold_s``: whether this one had its turn, and
    how long it waited for it."""
    lock_path = str(tmp_path / "db-writers")
    fork = multiprocessing.get_context("fork")
    ready = fork.Event()
    holder = fork.Process(target=_hold_turn, args=(lock_path, ready, hold_s))
    holder.start()
    try:
        assert ready.wait(10)
        started = time.monotonic()
        with WriterQueue(lock_path).turn(wait_s) as had_turn:
            return had_turn, time.monotonic() - started
    finally:
        holder.terminate()
        holder.join(10)


def test_another_process_gets_its_turn_when_the_holder_releases_it(tmp_path: Path) -> None:
    had_turn, waited = _wait_behind_a_holder(tmp_path, hold_s=0.3, wait_s=5)
    assert had_turn
    # Not before the holder let go, and soon after (SQLite's handler sleeps up to 100 ms).
    assert 0.15 < waited < 0.3 + 0.1


def test_a_wait_that_runs_out_goes_ahead(tmp_path: Path) -> None:
    had_turn, waited = _wait_behind_a_holder(tmp_path, hold_s=2.0, wait_s=0.2)
    assert not had_turn
    assert 0.2 <= waited < 1.5


def _take_turn_in_child(
    queue: WriterQueue, result: multiprocessing.queues.Queue[tuple[bool, float]]
) -> None:
    started = time.monotonic()
    with queue.turn(5) as had_turn:
        result.put((had_turn, time.monotonic() - started))


def test_a_child_forked_during_a_turn_waits_for_its_parent(tmp_path: Path) -> None:
    queue = WriterQueue(str(tmp_path / "db-writers"))
    fork = multiprocessing.get_context("fork")
    result = fork.Queue()
    with queue.turn(5):
        # Forked while this thread holds the turn: the child's copy of the descriptor
        # shares the parent's lock, so it must open its own and wait like anyone else.
        child = fork.Process(target=_take_turn_in_child, args=(queue, result))
        child.start()
        time.sleep(0.3)
    had_turn, waited = result.get(timeout=10)
    child.join(10)
    assert had_turn
    assert waited >= 0.2
    # The child has gone: the parent's lock is free and still usable here.
    with queue.turn(5) as again:
        assert again


def test_engines_of_one_file_share_a_queue_and_write(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/exportd.db"
    first = create_database(load_settings(database_url=url))
    second = create_database(load_settings(database_url=url))
    assert writer_queue(str(tmp_path / "exportd.db")) is first._writers
    assert first._writers is second._writers
    with first.write() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    with first.write() as conn, second.read() as other:
        conn.execute(text("INSERT INTO t VALUES (1)"))
        assert other.execute(text("SELECT count(*) FROM t")).scalar_one() == 0
    with second.write() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 1
    assert (tmp_path / "exportd.db-writers").stat().st_mode & 0o077 == 0
    first.dispose()
    second.dispose()


def test_a_writer_killed_during_its_turn_leaves_the_turn_to_the_others(tmp_path: Path) -> None:
    lock_path = str(tmp_path / "db-writers")
    fork = multiprocessing.get_context("fork")
    ready = fork.Event()
    holder = fork.Process(target=_hold_turn, args=(lock_path, ready, 60))
    holder.start()
    assert ready.wait(10)
    assert holder.pid is not None
    os.kill(holder.pid, signal.SIGKILL)  # no finally runs: the kernel lets go of the lock
    holder.join(10)
    started = time.monotonic()
    with WriterQueue(lock_path).turn(5) as had_turn:
        waited = time.monotonic() - started
    assert had_turn
    assert waited < 0.5


def _holding(queue: WriterQueue, hold_s: float) -> threading.Thread:
    """A thread that holds ``queue``'s turn for ``hold_s`` (started, and holding)."""
    holding = threading.Event()

    def hold() -> None:
        with queue.turn(5):
            holding.set()
            time.sleep(hold_s)

    thread = threading.Thread(target=hold)
    thread.start()
    assert holding.wait(5)
    return thread


def test_a_write_that_fails_ends_its_turn(tmp_path: Path) -> None:
    queue = WriterQueue(str(tmp_path / "db-writers"))
    with pytest.raises(ValueError, match="the write failed"), queue.turn(5):
        raise ValueError("the write failed")
    _holding(queue, 0).join()  # another thread gets the turn at once
    with queue.turn(0.1) as had_turn:
        assert had_turn


def test_an_interrupt_while_waiting_leaves_no_turn_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock_path = str(tmp_path / "db-writers")
    other = WriterQueue(lock_path)  # its own descriptor: as another process would
    holder = _holding(other, 0.3)
    queue = WriterQueue(lock_path)

    def interrupted(_s: float) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        # Only this module's clock: the holding thread sleeps on.
        patch.setattr(
            sqlite_writers, "time", SimpleNamespace(monotonic=time.monotonic, sleep=interrupted)
        )
        with pytest.raises(KeyboardInterrupt), queue.turn(5):
            pass
    holder.join()
    started = time.monotonic()
    with queue.turn(5) as had_turn:  # neither the thread lock nor the file's is left held
        assert had_turn
    assert time.monotonic() - started < 0.5


def test_a_turn_left_in_another_thread_is_ended(tmp_path: Path) -> None:
    queue = WriterQueue(str(tmp_path / "db-writers"))
    taken: list[Any] = []
    entered = threading.Thread(target=lambda: taken.append(queue.turn(5).__enter__()))
    turn = queue.turn(5)
    thread = threading.Thread(target=lambda: taken.append(turn.__enter__()))
    thread.start()
    thread.join()
    turn.__exit__(None, None, None)  # left in this thread (a generator collected elsewhere)
    holder = _holding(queue, 0.3)
    entered.start()  # the thread that took the first turn does not think it still holds it
    entered.join()
    holder.join()
    assert taken == [True, True]


def test_a_lock_file_replaced_on_disk_is_opened_again(tmp_path: Path) -> None:
    lock_path = tmp_path / "db-writers"
    earlier = WriterQueue(str(lock_path))
    with earlier.turn(5):
        pass  # its descriptor is open on the first file
    lock_path.unlink()
    later = WriterQueue(str(lock_path))  # as a process started after the file was replaced
    holder = _holding(later, 0.5)
    with earlier.turn(0.2) as had_turn:
        assert not had_turn  # the file on disk is held: its old descriptor does not count
    holder.join()


def test_a_file_lock_that_cannot_be_opened_lets_writers_go_ahead(tmp_path: Path) -> None:
    queue = WriterQueue(str(tmp_path / "missing folder" / "db-writers"))
    with queue.turn(5) as had_turn:
        assert not had_turn


def test_a_queue_goes_with_the_last_database_of_its_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/exportd.db"
    db = create_database(load_settings(database_url=url, sqlite_busy_timeout_ms=250))
    with db.write():
        pass
    assert db._turn_wait_s == 0.25
    path = os.path.realpath(tmp_path / "exportd.db")
    assert sqlite_writers._QUEUES.get(path) is db._writers
    db.dispose()
    del db
    gc.collect()
    assert sqlite_writers._QUEUES.get(path) is None

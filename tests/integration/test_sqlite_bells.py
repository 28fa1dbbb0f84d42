"""SQLite's doorbells: every exportd commit to a file rings the bells of the file's
listeners (the worker's wake-ups, the API's long polls), at once and never failing."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from exportd.config import load_settings
from exportd.db import create_database
from exportd.db.sqlite_bells import FOLDER_SUFFIX, Bells
from exportd.queue.notify import SqliteWatcher
from exportd.wakeup import Wakeup, readable


def commit(path: Path) -> None:
    """A write by another exportd process (its own engine) to the file."""
    db = create_database(load_settings(database_url=f"sqlite:///{path}"))
    try:
        with db.write() as conn:
            conn.execute(text("CREATE TABLE IF NOT EXISTS t (x)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
    finally:
        db.dispose()


def listeners(path: Path) -> list[str]:
    folder = Path(f"{path}{FOLDER_SUFFIX}")
    return os.listdir(folder) if folder.exists() else []


def rang(fileno: int, within_s: float = 2.0) -> bool:
    return fileno in readable([fileno], within_s)


def test_a_commit_rings_every_listener_of_the_file_and_no_other(tmp_path: Path) -> None:
    path = tmp_path / "exportd.db"
    first, second = Bells(str(path)).listen(), Bells(str(path)).listen()
    elsewhere = Bells(str(tmp_path / "other.db")).listen()
    assert first is not None
    assert second is not None
    assert elsewhere is not None
    try:
        assert not first.drain()  # nothing yet
        commit(path)
        assert rang(first.fileno())
        assert rang(second.fileno())
        assert first.drain()
        assert second.drain()
        assert not rang(elsewhere.fileno(), within_s=0.2)
    finally:
        for bell in (first, second, elsewhere):
            bell.close()
    assert listeners(path) == []  # each removed its socket


def test_the_bells_folder_is_private(tmp_path: Path) -> None:
    bell = Bells(str(tmp_path / "exportd.db")).listen()
    assert bell is not None
    try:
        assert os.stat(tmp_path / f"exportd.db{FOLDER_SUFFIX}").st_mode & 0o777 == 0o700
    finally:
        bell.close()


def test_a_socket_left_by_a_dead_process_goes_at_the_next_ring(tmp_path: Path) -> None:
    path = tmp_path / "exportd.db"
    bells = Bells(str(path))
    alive = bells.listen()
    assert alive is not None
    assert bells.folder is not None
    # A process killed while listening: its socket file stays, nobody reads it.
    left = os.path.join(bells.folder, "999999-dead")
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dead.bind(left)
    dead.close()
    try:
        bells.ring()
        assert not os.path.exists(left)
        assert rang(alive.fileno())  # the living listener still heard it
    finally:
        alive.close()
        bells.close()


def test_rings_nobody_reads_neither_block_nor_fail(tmp_path: Path) -> None:
    """A listener that does not drain (busy, or stopped with SIGSTOP) fills its queue:
    further rings are dropped for it, and the committer is never held up."""
    bells = Bells(str(tmp_path / "exportd.db"))
    deaf = bells.listen()
    assert deaf is not None
    try:
        started = time.monotonic()
        for _ in range(5_000):
            bells.ring()
        assert time.monotonic() - started < 5
        assert deaf.drain()
        assert not deaf.drain()
    finally:
        deaf.close()
        bells.close()


@pytest.mark.parametrize("database", [":memory:", "", "file:x.db?mode=memory"])
def test_a_database_no_other_process_opens_has_no_bells(
    database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    bells = Bells(database)
    assert bells.listen() is None
    bells.ring()
    assert list(tmp_path.iterdir()) == []  # no folder made next to nothing


def test_a_path_too_long_for_a_socket_means_no_bell(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 120)
    deep.mkdir()
    bells = Bells(str(deep / "exportd.db"))
    assert bells.listen() is None
    bells.ring()  # and a ring does nothing


def test_the_worker_s_watcher_hears_a_commit_by_its_bell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At the ring, not at its next look at data_version (made 30 s here)."""
    path = tmp_path / "exportd.db"
    commit(path)  # the file exists
    monkeypatch.setattr(SqliteWatcher, "WITH_BELL_EVERY_S", 30.0)
    wakeup = Wakeup()
    watcher = SqliteWatcher(wakeup, str(path))
    watcher.start()
    try:
        deadline = time.monotonic() + 5
        while not listeners(path):  # listening
            assert time.monotonic() < deadline
            time.sleep(0.01)
        wakeup.drain()
        commit(path)
        assert rang(wakeup.fileno())
    finally:
        started = time.monotonic()
        watcher.stop()
        stopped_in = time.monotonic() - started
        wakeup.close()
    assert stopped_in < 2  # stop() rings too: not a 30 s wait
    assert listeners(path) == []

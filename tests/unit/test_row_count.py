"""An export's row count: counted first, or alongside the read and picked up when done."""

from __future__ import annotations

import threading
import time

from structlog.testing import capture_logs

from exportd.exports.counting import RowCount


def test_a_count_first_is_known_at_once_and_taken_in_the_caller_s_thread() -> None:
    threads: list[str] = []

    def count() -> int:
        threads.append(threading.current_thread().name)
        return 42

    with RowCount(count, alongside=False) as counted:
        assert counted.known() == 42
    assert threads == [threading.current_thread().name]


def test_a_count_alongside_is_unknown_until_it_ends() -> None:
    release = threading.Event()
    threads: list[str] = []

    def count() -> int:
        threads.append(threading.current_thread().name)
        release.wait(5)
        return 7

    with RowCount(count, alongside=True) as counted:
        assert counted.known() is None
        counted.start()
        counted.start()  # once
        assert counted.known() is None  # still counting: the read goes on meanwhile
        release.set()
        deadline = time.monotonic() + 5
        while counted.known() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert counted.known() == 7
    assert len(threads) == 1
    assert threads[0].startswith("exportd-count")


def test_a_failed_count_alongside_leaves_the_total_unknown_and_says_so() -> None:
    def count() -> int:
        raise RuntimeError("password=hunter2 in a driver message")

    with capture_logs() as logs, RowCount(count, alongside=True) as counted:
        counted.start()
        deadline = time.monotonic() + 5
        while not logs and time.monotonic() < deadline:
            assert counted.known() is None
            time.sleep(0.01)
    assert logs == [
        {"event": "export.count_failed", "error": "RuntimeError", "log_level": "warning"}
    ]


def test_leaving_waits_for_a_count_still_running() -> None:
    finished = threading.Event()

    def count() -> int:
        time.sleep(0.2)
        finished.set()
        return 1

    with RowCount(count, alongside=True) as counted:
        counted.start()
    assert finished.is_set()  # its connection is back in the pool before the export ends


def test_a_count_alongside_never_started_never_counts() -> None:
    """An export whose rows all came in one batch: the batch is the total."""
    counts: list[int] = []

    def count() -> int:
        counts.append(1)
        return 1

    with RowCount(count, alongside=True) as counted:
        assert counted.known() is None
    assert counts == []
    assert not [t for t in threading.enumerate() if t.name.startswith("exportd-count")]

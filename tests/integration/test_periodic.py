"""Periodic work runs on one node at a time, at most once per interval, on every backend."""

from __future__ import annotations

import threading

import pytest

from exportd.clock import ManualClock
from exportd.db import Database
from exportd.db.locks import advisory_key
from exportd.queue.periodic import PeriodicRunner


def test_runs_once_per_interval(db: Database) -> None:
    clock = ManualClock()
    runs: list[str] = []
    a = PeriodicRunner(db, node_id="a", clock=clock)
    b = PeriodicRunner(db, node_id="b", clock=clock)
    assert a.run_if_due("reaper", 10, lambda: runs.append("a"))
    assert not b.run_if_due("reaper", 10, lambda: runs.append("b"))
    clock.advance(9)
    assert not a.run_if_due("reaper", 10, lambda: runs.append("a"))
    clock.advance(1)
    assert b.run_if_due("reaper", 10, lambda: runs.append("b"))
    assert runs == ["a", "b"]


def test_two_nodes_never_run_the_same_task_at_once(db: Database) -> None:
    clock = ManualClock()
    inside = threading.Event()
    release = threading.Event()
    ran: list[str] = []

    def slow() -> None:
        ran.append("a")
        inside.set()
        release.wait(10)

    a = PeriodicRunner(db, node_id="a", clock=clock)
    b = PeriodicRunner(db, node_id="b", clock=clock)
    thread = threading.Thread(target=a.run_if_due, args=("cleanup", 0, slow))
    thread.start()
    assert inside.wait(10)
    assert not b.run_if_due("cleanup", 0, lambda: ran.append("b"))
    release.set()
    thread.join()
    assert b.run_if_due("cleanup", 0, lambda: ran.append("b"))
    assert ran == ["a", "b"]


def test_a_failed_run_releases_the_lock_and_stays_due(db: Database) -> None:
    clock = ManualClock()
    runner = PeriodicRunner(db, node_id="a", clock=clock)

    def boom() -> None:
        raise RuntimeError("storage down")

    with pytest.raises(RuntimeError):
        runner.run_if_due("cleanup", 60, boom)
    assert runner.run_if_due("cleanup", 60, lambda: None)


def test_advisory_keys_fit_a_signed_bigint() -> None:
    for name in ["exportd.reaper", "exportd.retention", "x" * 300]:
        assert -(2**63) <= advisory_key(name) < 2**63
    assert advisory_key("a") != advisory_key("b")

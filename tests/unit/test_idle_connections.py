"""The idle ADBC connections a process keeps between exports (sources/idle_connections.py)."""

from __future__ import annotations

import itertools

from exportd.sources.idle_connections import IdleConnections

URI = "postgresql://db-a"


class FakeConnection:
    serial = itertools.count(1)

    def __init__(self) -> None:
        self.number = next(self.serial)
        self.closed = False

    def close(self) -> None:
        self.closed = True


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_a_connection_given_back_is_taken_again() -> None:
    idle = IdleConnections()
    first, kept = idle.take(URI, FakeConnection)
    assert not kept
    idle.give_back(URI, first)
    again, kept = idle.take(URI, FakeConnection)
    assert kept
    assert again is first
    assert not first.closed
    other, kept = idle.take(URI, FakeConnection)  # the idle one is out: a new one
    assert not kept
    assert other is not first


def test_one_idle_connection_per_database() -> None:
    idle = IdleConnections()
    one, _ = idle.take(URI, FakeConnection)
    two, _ = idle.take(URI, FakeConnection)
    elsewhere, _ = idle.take("postgresql://db-b", FakeConnection)
    idle.give_back(URI, one)
    idle.give_back(URI, two)  # replaces the first, which is closed
    idle.give_back("postgresql://db-b", elsewhere)
    assert one.closed
    assert not two.closed
    assert idle.take(URI, FakeConnection) == (two, True)
    assert idle.take("postgresql://db-b", FakeConnection) == (elsewhere, True)


def test_a_connection_idle_too_long_is_closed_not_reused() -> None:
    clock = Clock()
    idle = IdleConnections(max_idle_s=300, clock=clock)
    old, _ = idle.take(URI, FakeConnection)
    idle.give_back(URI, old)
    clock.now += 300.5
    fresh, kept = idle.take(URI, FakeConnection)
    assert not kept
    assert fresh is not old
    assert old.closed


def test_close_all_closes_the_idle_ones() -> None:
    idle = IdleConnections()
    conn, _ = idle.take(URI, FakeConnection)
    idle.give_back(URI, conn)
    idle.close_all()
    assert conn.closed
    assert not idle.take(URI, FakeConnection)[1]

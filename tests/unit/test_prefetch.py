"""Prefetching batches: the same items in order, errors passed on, and the producer
stopped (its iterator closed, in its own thread) however the consumer leaves; its
thread kept for the next."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from exportd.sources.prefetch import prefetched


class Source:
    def __init__(self, count: int, *, fail_at: int | None = None) -> None:
        self.count = count
        self.fail_at = fail_at
        self.closed_in: str | None = None
        self.produced = 0

    def __iter__(self) -> Iterator[int]:
        try:
            for i in range(self.count):
                if i == self.fail_at:
                    raise OSError("connection reset")
                self.produced += 1
                yield i
        finally:
            self.closed_in = threading.current_thread().name


def prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("exportd-prefetch")]


def test_every_item_arrives_in_order() -> None:
    source = Source(1000)
    with prefetched(iter(source), depth=2) as items:
        assert list(items) == list(range(1000))
    assert str(source.closed_in).startswith("exportd-prefetch")


def test_the_producer_thread_serves_the_next_prefetch() -> None:
    for _ in range(2):
        with prefetched(iter(Source(3))) as items:
            list(items)
    started = prefetch_threads()
    for _ in range(5):
        with prefetched(iter(Source(3))) as items:
            list(items)
    assert prefetch_threads() == started


def test_a_source_error_reaches_the_consumer_after_the_items_before_it() -> None:
    seen = []
    with (
        pytest.raises(OSError, match="connection reset"),
        prefetched(iter(Source(10, fail_at=5))) as items,
    ):
        seen.extend(items)
    assert seen == [0, 1, 2, 3, 4]


def test_leaving_early_stops_the_producer_and_closes_the_source() -> None:
    source = Source(1_000_000)
    with prefetched(iter(source), depth=2) as items:
        assert next(items) == 0
    assert str(source.closed_in).startswith("exportd-prefetch")
    assert source.produced < 10  # it stopped at the queue's depth, not at the end


def test_a_consumer_failure_stops_the_producer() -> None:
    produced: list[int] = []
    closed = threading.Event()

    def slow() -> Iterator[int]:
        try:
            for i in range(100):
                time.sleep(0.01)
                produced.append(i)
                yield i
        finally:
            closed.set()

    def write_until_it_fails() -> None:
        with prefetched(slow()) as items:
            for item in items:
                if item == 3:
                    raise RuntimeError("the writer failed")

    with pytest.raises(RuntimeError):
        write_until_it_fails()
    assert closed.is_set()  # before the with block was left
    count = len(produced)
    time.sleep(0.05)
    assert len(produced) == count < 10

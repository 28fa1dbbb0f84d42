"""Fetch the next batches while the current one is written.

Reading from the database (ADBC, in C) and writing a file (pyarrow, in C++) both let go
of the GIL, so on two cores they overlap: an export takes about as long as the slower
of the two instead of their sum.  A thread pulls from the source into a queue of
``depth`` batches; leaving the ``with`` block (finished, failed or cancelled) stops it
and closes the source's iterator in that thread, before the caller touches the
connection again.  The threads are kept for the process's next export: starting one
took a millisecond and more on a busy machine, a tenth of a ten-row export.

While the consumer waits for a batch (a source slow to answer), ``on_wait`` is called
every ``WAIT_STEP_S``: the export's checkpoint, so a cancel is heard while it waits.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

_END = object()
WAIT_STEP_S = 0.05
THREAD_NAME = "exportd-prefetch"
# Reads ahead at once in one process: a worker's child runs one export at a time; a
# process running several (tests, a supervisor in a thread) gets a thread for each.
MAX_PRODUCERS = 16


def _nothing() -> None:
    pass


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


@contextmanager
def prefetched(
    items: Iterator[T], *, depth: int = 2, on_wait: Callable[[], None] = _nothing
) -> Iterator[Iterator[T]]:
    ready: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if not _put(ready, item, stop):
                    return
            _put(ready, _END, stop)
        except BaseException as exc:  # handed to the consumer
            _put(ready, _Failed(exc), stop)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # a generator's cleanup (its own connection) runs here

    def next_item() -> object:
        while True:
            try:
                return ready.get(timeout=WAIT_STEP_S)
            except queue.Empty:
                on_wait()

    def consume() -> Iterator[T]:
        while (item := next_item()) is not _END:
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]

    producing = _producers().submit(produce)
    try:
        yield consume()
    finally:
        stop.set()  # a producer waiting for room sees it within one put timeout
        producing.result()


_pool: tuple[int, ThreadPoolExecutor] | None = None


def _producers() -> ThreadPoolExecutor:
    """This process's producer threads.  Made again in a forked child: the parent's
    pool would count threads the child does not have as idle, and never run a thing."""
    global _pool
    if _pool is None or _pool[0] != os.getpid():
        _pool = (os.getpid(), ThreadPoolExecutor(MAX_PRODUCERS, thread_name_prefix=THREAD_NAME))
    return _pool[1]


def _put(ready: queue.Queue[object], item: object, stop: threading.Event) -> bool:
    """Put ``item`` when there is room; False if told to stop first."""
    while not stop.is_set():
        try:
            ready.put(item, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False

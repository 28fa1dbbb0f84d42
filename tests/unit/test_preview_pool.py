"""The preview pool hands its processes out first come, first served, and a request that
waits past its budget gets none (503 ``preview_busy``) rather than waiting forever."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from exportd.documents.preview_pool import PreviewPool, PreviewUnavailable, _FairQueue
from exportd.documents.render import RenderOptions
from exportd.documents.templates import builtin_catalogue


def test_a_child_given_back_goes_to_the_oldest_waiter() -> None:
    child: Any = object()
    fair = _FairQueue([child])
    assert fair.take(0.1) is child
    order: list[str] = []

    def wait(name: str) -> None:
        if fair.take(5) is child:
            order.append(name)
            fair.give_back(child)

    first = threading.Thread(target=wait, args=("first",))
    first.start()
    time.sleep(0.1)
    second = threading.Thread(target=wait, args=("second",))
    second.start()
    time.sleep(0.1)
    # The giver asks again at once: it queues behind both instead of barging in.
    fair.give_back(child)
    assert fair.take(5) is child
    first.join()
    second.join()
    assert order == ["first", "second"]


def test_no_child_within_the_budget_is_none_and_leaves_the_queue_clean() -> None:
    child: Any = object()
    fair = _FairQueue([child])
    assert fair.take(0.1) is child
    started = time.monotonic()
    assert fair.take(0.2) is None
    assert 0.2 <= time.monotonic() - started < 2
    fair.give_back(child)  # nobody waits any more: it is idle again
    assert fair.take(0) is child


def test_busy_processes_answer_preview_busy() -> None:
    pool = PreviewPool(processes=1, timeout_s=0.2, font_dirs=[])
    taken = pool._queue.take(0)  # every process busy
    template = builtin_catalogue().get("classic")
    assert template is not None
    assert taken is not None
    with pytest.raises(PreviewUnavailable) as raised:
        pool.svg_pages(template, {"profile": {"name": "A"}}, RenderOptions("a4", False))
    assert raised.value.code == "preview_busy"
    assert raised.value.retry_after_s == 1

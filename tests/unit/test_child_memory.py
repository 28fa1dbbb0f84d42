"""A running child's memory check: proportional set size decides, read only when the
cheap resident size says the tree may be over its limit."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import psutil
import pytest

from exportd.worker import children
from exportd.worker.children import Child

MB = 1024 * 1024

# 200 MB written (so resident), then a fork: parent and child share those pages, which
# each one's RSS counts in full and PSS counts half in each.
_SHARING = """
import os, sys, time
block = b"x" * (200 * 1024 * 1024)
if os.fork() == 0:
    time.sleep(60)
    os._exit(0)
print("ready", flush=True)
time.sleep(60)
"""


@pytest.fixture
def sharing_tree() -> Iterator[Child]:
    with subprocess.Popen(
        [sys.executable, "-c", _SHARING], stdout=subprocess.PIPE, text=True
    ) as process:
        yield from _given(process)


def _given(process: subprocess.Popen[str]) -> Iterator[Child]:
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n"
        deadline = time.monotonic() + 10
        while not psutil.Process(process.pid).children() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert psutil.Process(process.pid).children(), "the forked process did not appear"
        child = Child(0, None, Any)  # type: ignore[arg-type]  # never started: given a process
        child.process = SimpleNamespace(pid=process.pid)
        yield child
    finally:
        for below in psutil.Process(process.pid).children(recursive=True):
            below.kill()
        process.kill()
        process.wait()


@pytest.fixture
def pss_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    seen: list[int] = []
    real = children._footprint

    def footprint(process: psutil.Process) -> int:
        seen.append(process.pid)
        return real(process)

    monkeypatch.setattr(children, "_footprint", footprint)
    return seen


def test_a_tree_far_under_its_limit_is_not_read_in_detail(
    sharing_tree: Child, pss_reads: list[int]
) -> None:
    assert not sharing_tree.holds_more_than(2048 * MB)
    assert pss_reads == []


def test_shared_pages_count_once_so_a_tree_over_by_rss_alone_is_under(
    sharing_tree: Child, pss_reads: list[int]
) -> None:
    resident = sum(p.memory_info().rss for p in sharing_tree._family())
    assert resident > 400 * MB  # both processes count the 200 MB block
    assert not sharing_tree.holds_more_than(320 * MB)
    assert len(pss_reads) == 2  # over by RSS: read in detail, and the detail decides
    assert 200 * MB < sharing_tree.memory_bytes() < 320 * MB


def test_a_tree_over_its_limit_is_over(sharing_tree: Child) -> None:
    assert sharing_tree.holds_more_than(150 * MB)


def test_a_child_that_is_gone_holds_nothing() -> None:
    child = Child(0, None, Any)  # type: ignore[arg-type]
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    child.process = SimpleNamespace(pid=gone.pid)
    assert not child.holds_more_than(0)
    assert child.memory_bytes() == 0

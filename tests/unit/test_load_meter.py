"""The heartbeat's load: memory read again when the running jobs change, otherwise at
most every few seconds (reading it walks every process's page tables)."""

from __future__ import annotations

from typing import Any

import pytest

from exportd.queue.models import Claimed, Job
from exportd.queue.workers import WorkerLoad
from exportd.worker import children
from exportd.worker.children import Child, LoadMeter, Running


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Each call of the real measurement, by the number of jobs it saw running."""
    seen: list[int] = []

    def measured(kids: list[Child]) -> WorkerLoad:
        seen.append(sum(kid.running is not None for kid in kids))
        return WorkerLoad(running=[], rss_bytes=len(seen))

    monkeypatch.setattr(children, "load_of", measured)
    return seen


def _child(job_id: int | None, attempt: int = 1) -> Child:
    child = Child(0, None, Any)  # type: ignore[arg-type]  # never started here
    if job_id is not None:
        job: Any = Job.__new__(Job)
        child.running = Running(job=job, claim=Claimed(job_id, attempt), started=0, deadline=9)
    return child


def test_an_idle_worker_reads_its_memory_once_per_refresh(reads: list[int]) -> None:
    clock = Clock()
    meter = LoadMeter(refresh_s=5.0, clock=clock)
    idle = [_child(None), _child(None)]
    for _ in range(11):  # heartbeats every half second, from 100.0 to 105.0
        meter.measure(idle)
        clock.now += 0.5
    assert reads == [0, 0]  # at 100.0 and at 105.0
    assert meter.measure(idle).rss_bytes == 2


def test_a_job_starting_or_ending_is_measured_at_the_next_heartbeat(reads: list[int]) -> None:
    clock = Clock()
    meter = LoadMeter(refresh_s=5.0, clock=clock)
    meter.measure([_child(None)])
    clock.now += 0.5
    meter.measure([_child(7)])  # a job started
    clock.now += 0.5
    meter.measure([_child(7)])
    meter.measure([_child(7, attempt=2)])  # the same job again, another attempt
    meter.measure([_child(None)])  # it ended
    assert reads == [0, 1, 1, 0]

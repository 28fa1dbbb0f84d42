"""A real worker shares itself between owners: the issue's scenario, on SQLite and
PostgreSQL.  One worker of concurrency 2; user A queues 20 jobs, then user B asks for
one: B's starts before A's third-next job."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from exportd.queue import JobState
from tests.support.workers import Harness

pytestmark = pytest.mark.slow


@pytest.fixture
def harness(database_url: str, tmp_path: Path) -> Iterator[Harness]:
    h = Harness(database_url, tmp_path)
    yield h
    h.close()


def starts(harness: Harness) -> list[int]:
    return [int(line.split(":")[0]) for line in harness.notes_lines() if line.endswith(":start")]


def test_a_second_owner_starts_before_the_firsts_third_next_job(harness: Harness) -> None:
    a_jobs = [
        harness.enqueue("test.record", payload={"seconds": 0.3}, fair_key="user-a")
        for _ in range(20)
    ]
    harness.start_worker(concurrency=2)
    harness.wait_for_note(f"{a_jobs[0]}:1:start")
    started_before = set(starts(harness))
    b_job = harness.enqueue("test.record", payload={"seconds": 0.3}, fair_key="user-b")
    assert harness.wait_for(b_job, lambda job: job.state.is_final).state is JobState.COMPLETED
    harness.wait_for(a_jobs[-1], lambda job: job.state.is_final, timeout=60)
    after = [job_id for job_id in starts(harness) if job_id not in started_before]
    a_next = [job_id for job_id in after if job_id != b_job]
    assert after.index(b_job) < after.index(a_next[2]), after

"""Real ``exportd worker`` processes, killed, frozen and stopped, on SQLite and PostgreSQL."""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from sqlalchemy import text

from exportd.db.migrate import upgrade
from exportd.queue import Job, JobState
from tests.support.workers import Harness

pytestmark = pytest.mark.slow


@pytest.fixture
def harness(database_url: str, tmp_path: Path) -> Iterator[Harness]:
    h = Harness(database_url, tmp_path)
    yield h
    h.close()


def final(job: Job) -> bool:
    return job.state.is_final


def left_running(processes: list[psutil.Process], timeout: float = 10) -> list[psutil.Process]:
    """Those of ``processes`` still running after ``timeout`` (a zombie has ended)."""

    def running(process: psutil.Process) -> bool:
        try:
            return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    deadline = time.monotonic() + timeout
    left = [p for p in processes if running(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.02)
        left = [p for p in left if running(p)]
    return left


def test_outcomes_are_recorded_and_logged(harness: Harness) -> None:
    worker = harness.start_worker(concurrency=1)
    ok = harness.enqueue("test.record", correlation_id="req-42")
    terminal = harness.enqueue("test.fail")
    retryable = harness.enqueue("test.fail", payload={"retryable": True}, max_attempts=2)
    assert harness.wait_for(ok, final).state is JobState.COMPLETED
    failed = harness.wait_for(terminal, final)
    assert (failed.state, failed.attempts_used) == (JobState.FAILED, 1)
    assert failed.error == {
        "code": "validation_failed",
        "message": "the params do not validate",
        "retryable": False,
    }
    exhausted = harness.wait_for(retryable, final)
    assert (exhausted.state, exhausted.attempt) == (JobState.FAILED, 2)
    completed = worker.wait_for_event("job.completed")
    assert completed["job_id"] == ok
    assert completed["correlation_id"] == "req-42"
    assert completed["duration_ms"] >= 0
    failed_line = worker.wait_for_event("job.failed")
    assert failed_line["level"] == "error"
    assert {"job_id", "attempt", "error_code", "duration_ms"} <= failed_line.keys()
    assert worker.wait_for_event("job.retrying")["level"] == "warning"


def test_kill_9_of_a_worker_mid_job_loses_nothing(harness: Harness) -> None:
    """Nor leaves a process behind: its fork server and its children exit with it, the
    idle one and the busy one, even busy with no progress to report (which would have
    met the closed pipe)."""
    first = harness.start_worker()
    job_id = harness.enqueue(
        "test.record", payload={"seconds": 30, "later_seconds": 0, "checkpoints": False}
    )
    harness.wait_for_note(f"{job_id}:1:start")
    below = psutil.Process(first.pid).children(recursive=True)
    assert len(below) >= 3  # the fork server, two children
    first.signal(signal.SIGKILL)
    second = harness.start_worker(concurrency=1)
    assert left_running(below) == []
    done = harness.wait_for(job_id, final, timeout=40)
    assert done.state is JobState.COMPLETED
    assert done.result is not None
    assert done.result["attempt"] == 2
    ends = [line for line in harness.notes_lines() if line.endswith(":end")]
    assert ends == [f"{job_id}:2:end"]  # the first attempt's child died with its parent
    assert second.wait_for_event("job.completed")["job_id"] == job_id


def test_a_frozen_worker_cannot_complete_after_losing_its_lease(harness: Harness) -> None:
    frozen = harness.start_worker(concurrency=1)
    job_id = harness.enqueue("test.record", payload={"seconds": 2, "later_seconds": 0})
    harness.wait_for_note(f"{job_id}:1:start")
    harness.freeze(frozen)
    rescuer = harness.start_worker(concurrency=1)
    done = harness.wait_for(job_id, final, timeout=40)
    assert done.result is not None
    assert done.result["attempt"] == 2
    frozen.signal(signal.SIGCONT, group=True)
    # The zombie wakes: either its heartbeat sees the lost lease or its outcome is refused.
    deadline = time.monotonic() + 10
    seen: set[str] = set()
    while time.monotonic() < deadline and not seen & {"job.lease_lost", "job.outcome_refused"}:
        seen = {event["event"] for event in frozen.events()}
        time.sleep(0.1)
    assert seen & {"job.lease_lost", "job.outcome_refused"}, frozen.log_path.read_text()
    after = harness.job(job_id)
    assert (after.state, after.attempt, after.result) == (JobState.COMPLETED, 2, done.result)
    assert rescuer.process.poll() is None


def test_sigterm_hands_unfinished_jobs_back(harness: Harness) -> None:
    worker = harness.start_worker(concurrency=1, worker_shutdown_grace_s="0.5")
    job_id = harness.enqueue("test.record", payload={"seconds": 30, "later_seconds": 0})
    harness.wait_for_note(f"{job_id}:1:start")
    assert worker.stop() == 0
    job = harness.job(job_id)
    assert (job.state, job.attempts_used, job.error) == (JobState.QUEUED, 0, None)
    harness.start_worker(concurrency=1)
    done = harness.wait_for(job_id, final, timeout=30)
    assert done.state is JobState.COMPLETED


def test_sigterm_hands_back_the_prefetched_backlog(harness: Harness) -> None:
    worker = harness.start_worker(concurrency=1, worker_prefetch="5", worker_shutdown_grace_s="0.3")
    ids = harness.enqueue_many("test.record", 6, seconds=5)
    harness.wait_for_note(f"{ids[0]}:1:start")
    with harness.db.read() as conn:
        running = harness.store.list(conn, state=JobState.RUNNING)
    assert len(running) >= 3  # one in the child, more claimed ahead of it
    assert worker.stop() == 0
    jobs = [harness.job(job_id) for job_id in ids]
    assert {(job.state, job.attempts_used) for job in jobs} == {(JobState.QUEUED, 0)}


def test_a_burst_of_signals_still_stops_the_worker(harness: Harness) -> None:
    """Signals arriving while the last one's handling was under way (an orchestrator
    and a shell both stopping it) once left the worker waiting on its own log's lock."""
    worker = harness.start_worker(concurrency=1, worker_shutdown_grace_s="0.5")
    worker.wait_for_event("worker.started")
    for _ in range(300):
        if worker.process.poll() is not None:
            break
        worker.signal(signal.SIGTERM)
    assert worker.process.wait(20) == 0
    assert any(e["event"] == "worker.stopping" for e in worker.events())


def test_sigterm_lets_short_jobs_finish(harness: Harness) -> None:
    """Sent as a service manager sends it, to the whole process group: the children and
    their fork server ignore it, the supervisor lets the job finish."""
    worker = harness.start_worker(concurrency=1, worker_shutdown_grace_s="10")
    job_id = harness.enqueue("test.record", payload={"seconds": 1})
    harness.wait_for_note(f"{job_id}:1:start")
    below = psutil.Process(worker.pid).children(recursive=True)
    worker.signal(signal.SIGTERM, group=True)
    assert worker.process.wait(20) == 0
    assert harness.job(job_id).state is JobState.COMPLETED
    assert left_running(below) == []
    assert all(line.startswith("{") for line in worker.log_path.read_text().splitlines())


def test_many_workers_claim_each_job_once_per_attempt(harness: Harness) -> None:
    ids = harness.enqueue_many("test.record", 60)
    for _ in range(3):
        harness.start_worker(concurrency=2, job_lease_s="10")
    for job_id in ids:
        done = harness.wait_for(job_id, final, timeout=60)
        assert done.state is JobState.COMPLETED
        assert done.result is not None
        assert done.result["attempt"] == done.attempt  # the last attempt's result, once
    starts = Counter(line for line in harness.notes_lines() if line.endswith(":start"))
    assert set(starts.values()) == {1}  # no attempt ran twice
    assert {line.split(":")[0] for line in starts} == {str(job_id) for job_id in ids}


def test_a_job_that_always_kills_its_child_ends_failed(harness: Harness) -> None:
    worker = harness.start_worker(concurrency=1)
    job_id = harness.enqueue("test.crash", max_attempts=3)
    done = harness.wait_for(job_id, final)
    assert (done.state, done.attempt) == (JobState.FAILED, 3)
    assert done.error is not None
    assert done.error["code"] == "worker_crashed"
    assert "signal 9" in done.error["message"]
    # The worker replaced its children and keeps working.
    assert harness.wait_for(harness.enqueue("test.record"), final).state is JobState.COMPLETED
    assert worker.process.poll() is None


def test_time_limit_fails_terminally_and_names_the_limit(harness: Harness) -> None:
    harness.start_worker(concurrency=1)
    job_id = harness.enqueue("test.record", payload={"seconds": 30}, timeout_s=0.5)
    done = harness.wait_for(job_id, final)
    assert (done.state, done.attempts_used) == (JobState.FAILED, 1)
    assert done.error is not None
    assert done.error["code"] == "time_limit_exceeded"
    assert "time limit of 0.5 s" in done.error["message"]


def test_memory_limit_fails_terminally_and_names_the_limit(harness: Harness) -> None:
    harness.start_worker(concurrency=1, memory_limit_mb="150")
    job_id = harness.enqueue("test.hog", payload={"mb": 300})
    done = harness.wait_for(job_id, final)
    assert (done.state, done.attempts_used) == (JobState.FAILED, 1)
    assert done.error is not None
    assert done.error["code"] == "memory_limit_exceeded"
    assert "150 MB" in done.error["message"]


def test_cancelling_a_running_job_stops_it_at_a_checkpoint(harness: Harness) -> None:
    harness.start_worker(concurrency=1)
    job_id = harness.enqueue("test.record", payload={"seconds": 30})
    harness.wait_for_note(f"{job_id}:1:start")
    with harness.db.write() as conn:
        assert harness.store.cancel(conn, job_id) is JobState.RUNNING
    done = harness.wait_for(job_id, final, timeout=15)
    assert done.state is JobState.CANCELLED
    assert f"{job_id}:1:end" not in harness.notes_lines()


def test_an_idle_worker_is_woken_without_waiting_for_its_poll(harness: Harness) -> None:
    harness.start_worker(concurrency=1, poll_interval_s="30")
    # Its outcome is recorded in the transaction of the claim that found nothing else:
    # from then on the worker is idle until woken (or its poll, 30 s away).
    assert harness.wait_for(harness.enqueue("test.record"), final).state is JobState.COMPLETED
    job_id = harness.enqueue("test.record")
    done = harness.wait_for(job_id, final, timeout=10)
    assert done.state is JobState.COMPLETED


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_workers_reconnect_after_their_connections_are_terminated(harness: Harness) -> None:
    worker = harness.start_worker(concurrency=1, poll_interval_s="30")
    first = harness.enqueue("test.record")
    assert harness.wait_for(first, final).state is JobState.COMPLETED
    with harness.db.write() as conn:
        killed = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar()
    assert killed
    assert killed >= 2
    harness.db.engine.dispose()
    worker.wait_for_event("listener.reconnecting")
    deadline = time.monotonic() + 20
    while not listening(harness):  # the listener is back
        assert time.monotonic() < deadline, "the listener never listened again"
        time.sleep(0.02)
    second = harness.enqueue("test.record")
    # Picked up well before the 30 s poll: through the listener's new connection.
    assert harness.wait_for(second, final, timeout=10).state is JobState.COMPLETED


def listening(harness: Harness) -> bool:
    with harness.db.read() as conn:
        found = conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND query LIKE 'LISTEN %' AND state = 'idle'"
            )
        ).scalar()
    return bool(found)


def test_a_worker_started_before_its_database_is_ready_waits_for_it(tmp_path: Path) -> None:
    """A worker started while its database cannot serve it (restarting, or not yet
    migrated, as here) waits and starts once it can, instead of exiting."""
    harness = Harness(f"sqlite:///{tmp_path / 'exportd.db'}", tmp_path)  # not migrated
    try:
        worker = harness.start_worker(concurrency=1)
        waiting = worker.wait_for_event("worker.database_unavailable")
        assert waiting["error"] == "OperationalError"
        deadline = time.monotonic() + 20
        while sum(e["event"] == "worker.database_unavailable" for e in worker.events()) < 3:
            assert time.monotonic() < deadline, worker.log_path.read_text()
            time.sleep(0.02)
        assert worker.process.poll() is None  # still there, trying again
        upgrade(harness.db)
        worker.wait_for_event("worker.started", timeout=30)
        job = harness.enqueue("test.record")
        assert harness.wait_for(job, final).state is JobState.COMPLETED
    finally:
        harness.close()

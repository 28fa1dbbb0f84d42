"""The queue's contract, run on SQLite and on PostgreSQL through one fixture."""

from __future__ import annotations

import threading
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import insert, select

from exportd.clock import ManualClock
from exportd.config import KeepPolicy
from exportd.db import Database
from exportd.db.tables import jobs
from exportd.errors import ErrorInfo, InvalidTransition, JobNotFound, LeaseLost
from exportd.queue import JobState, JobStore, NewJob, RetryPolicy
from exportd.queue.models import Claimed, Outcome
from exportd.queue.sql import NOTIFY_CHANNEL

TRANSIENT = ErrorInfo("transient_error", "disk hiccup", True)
TERMINAL = ErrorInfo("validation_failed", "bad params", False)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(clock: ManualClock) -> JobStore:
    policy = RetryPolicy(max_attempts=3, base_s=10, cap_s=100, jitter=0.0)
    return JobStore(policy=policy, lease_s=30, clock=clock)


def enqueue(db: Database, store: JobStore, **kwargs: object) -> int:
    kwargs.setdefault("task", "noop")
    with db.write() as conn:
        return store.enqueue(conn, NewJob(**kwargs)).job.id  # type: ignore[arg-type]


def claim(db: Database, store: JobStore, limit: int = 1, worker: str = "w1") -> list[Claimed]:
    with db.write() as conn:
        found = store.claim(conn, worker_id=worker, queues=["default"], limit=limit)
    return [Claimed(job.id, job.attempt) for job in found]


def settle(db: Database, store: JobStore, outcome: Outcome) -> JobState | None:
    with db.write() as conn:
        return store.settle(conn, outcome).state


def get(db: Database, store: JobStore, job_id: int):
    with db.read() as conn:
        return store.get(conn, job_id)


def test_enqueue_commits_with_the_callers_transaction(db: Database, store: JobStore) -> None:
    def enqueue_then_fail() -> None:
        with db.write() as conn:
            store.enqueue(conn, NewJob(task="noop"))
            raise RuntimeError("the domain write failed")

    with pytest.raises(RuntimeError):
        enqueue_then_fail()
    with db.read() as conn:
        assert conn.execute(select(jobs.c.id)).all() == []
    job_id = enqueue(db, store, payload={"x": 1})
    job = get(db, store, job_id)
    assert job.state is JobState.QUEUED
    assert job.payload == {"x": 1}
    assert job.max_attempts == 3


def test_has_ready_sees_only_a_due_queued_job_of_the_queues_asked(
    db: Database, store: JobStore, clock: ManualClock
) -> None:
    def ready(*queues: str) -> bool:
        with db.read() as conn:
            return store.has_ready(conn, queues=list(queues))

    assert not ready("default")
    enqueue(db, store, run_after=clock.now() + timedelta(seconds=60))
    enqueue(db, store, queue="email")
    assert not ready("default")  # not due yet; the other is another queue's
    assert ready("default", "email")
    clock.advance(61)
    assert ready("default")
    claim(db, store, 1)
    assert not ready("default")  # running now


def test_claim_order_is_priority_then_run_after_then_id(
    db: Database, store: JobStore, clock: ManualClock
) -> None:
    early = clock.now() - timedelta(seconds=5)
    late_low = enqueue(db, store, priority=0)
    early_low = enqueue(db, store, priority=0, run_after=early)
    urgent = enqueue(db, store, priority=-1)
    future = enqueue(db, store, run_after=clock.now() + timedelta(seconds=60))
    order = [c.job_id for c in claim(db, store, limit=10)]
    assert order == [urgent, early_low, late_low]
    assert future not in order
    clock.advance(61)
    assert [c.job_id for c in claim(db, store)] == [future]


def test_claim_takes_only_the_named_queues(db: Database, store: JobStore) -> None:
    enqueue(db, store, queue="email")
    assert claim(db, store) == []
    with db.write() as conn:
        found = store.claim(conn, worker_id="w", queues=["email"], limit=5)
    assert len(found) == 1


def test_claim_marks_running_with_lease_and_counts_the_attempt(
    db: Database, store: JobStore, clock: ManualClock
) -> None:
    job_id = enqueue(db, store)
    [held] = claim(db, store)
    job = get(db, store, job_id)
    assert job.state is JobState.RUNNING
    assert (held.attempt, job.attempts_used, job.worker_id) == (1, 1, "w1")
    assert job.lease_expires_at == clock.now() + timedelta(seconds=30)
    assert claim(db, store) == []


def test_complete_is_fenced_on_attempt(db: Database, store: JobStore) -> None:
    job_id = enqueue(db, store)
    [held] = claim(db, store)
    stale = Claimed(job_id, held.attempt - 1)
    assert settle(db, store, Outcome(claim=stale, result={"x": 1})) is None
    assert settle(db, store, Outcome(claim=held, result={"rows": 3})) is JobState.COMPLETED
    assert settle(db, store, Outcome(claim=held, result={"rows": 4})) is None
    job = get(db, store, job_id)
    assert job.state is JobState.COMPLETED
    assert job.result == {"rows": 3}


def test_retryable_error_backs_off_then_dead_letters(
    db: Database, store: JobStore, clock: ManualClock
) -> None:
    job_id = enqueue(db, store)
    delays = []
    for _ in range(3):
        [held] = claim(db, store)
        with db.write() as conn:
            settled = store.settle(conn, Outcome(claim=held, error=TRANSIENT))
        delays.append(settled.retry_in_s)
        job = get(db, store, job_id)
        if settled.state is JobState.QUEUED:
            assert job.run_after == clock.now() + timedelta(seconds=settled.retry_in_s or 0)
            assert claim(db, store) == []  # not before its time
            clock.advance(settled.retry_in_s or 0)
    assert delays == [10.0, 20.0, None]
    job = get(db, store, job_id)
    assert job.state is JobState.FAILED
    assert job.error == TRANSIENT.as_dict()
    assert job.finished_at is not None


def test_terminal_error_fails_at_once(db: Database, store: JobStore) -> None:
    job_id = enqueue(db, store)
    [held] = claim(db, store)
    assert settle(db, store, Outcome(claim=held, error=TERMINAL)) is JobState.FAILED
    assert get(db, store, job_id).attempts_used == 1


def test_requeue_from_dead_letter_gives_a_fresh_budget(db: Database, store: JobStore) -> None:
    job_id = enqueue(db, store, max_attempts=1)
    [held] = claim(db, store)
    settle(db, store, Outcome(claim=held, error=TRANSIENT))
    assert get(db, store, job_id).state is JobState.FAILED
    with db.write() as conn:
        job = store.requeue(conn, job_id)
    assert (job.state, job.attempts_used) == (JobState.QUEUED, 0)
    [again] = claim(db, store)
    assert again.attempt == held.attempt + 1
    with pytest.raises(InvalidTransition), db.write() as conn:
        store.requeue(conn, job_id)


def test_progress_is_fenced_and_reports_cancellation(db: Database, store: JobStore) -> None:
    job_id = enqueue(db, store)
    [held] = claim(db, store)
    with db.write() as conn:
        assert store.record_progress(conn, held, {"rows_done": 10}) is False
    with db.write() as conn:
        assert store.cancel(conn, job_id) is JobState.RUNNING
    with db.write() as conn:
        assert store.record_progress(conn, held, {"rows_done": 20}) is True
    with pytest.raises(LeaseLost), db.write() as conn:
        store.record_progress(conn, Claimed(job_id, held.attempt + 1), {})
    # Many at once (the supervisor's flush): each one's answer, none raised.
    other_id = enqueue(db, store)
    [other] = claim(db, store)
    stale = Claimed(job_id, held.attempt + 1)
    with db.write() as conn:
        report = store.record_progress_of(
            conn, {held: {"rows_done": 30}, other: {"rows_done": 1}, stale: {}}
        )
    assert (report.cancel_requested, report.lost) == ({held}, {stale})
    assert get(db, store, other_id).progress == {"rows_done": 1}
    assert settle(db, store, Outcome(claim=held, cancelled=True)) is JobState.CANCELLED
    assert get(db, store, job_id).progress == {"rows_done": 30}


def test_cancel_queued_is_immediate_and_final_states_refuse(db: Database, store: JobStore) -> None:
    job_id = enqueue(db, store)
    with db.write() as conn:
        assert store.cancel(conn, job_id) is JobState.CANCELLED
    assert claim(db, store) == []
    with pytest.raises(InvalidTransition), db.write() as conn:
        store.cancel(conn, job_id)
    with pytest.raises(JobNotFound), db.write() as conn:
        store.cancel(conn, 999_999)


def test_a_failure_after_cancel_requested_ends_cancelled(db: Database, store: JobStore) -> None:
    job_id = enqueue(db, store)
    [held] = claim(db, store)
    with db.write() as conn:
        store.cancel(conn, job_id)
    assert settle(db, store, Outcome(claim=held, error=TRANSIENT)) is JobState.CANCELLED


def test_a_success_after_cancel_requested_ends_cancelled_and_keeps_no_result(
    db: Database, store: JobStore
) -> None:
    """Whoever was told "cancelling" never finds the job completed: the attempt may have
    finished its file while the request travelled, but the request came first."""
    with_result, plain = enqueue(db, store), enqueue(db, store)
    held = {c.job_id: c for c in claim(db, store, limit=2)}
    with db.write() as conn:
        store.cancel(conn, with_result)
        store.cancel(conn, plain)
    outcome = Outcome(claim=held[with_result], result={"key": "bob/x/1/x.csv"})
    assert settle(db, store, outcome) is JobState.CANCELLED
    job = get(db, store, with_result)
    assert (job.state, job.result) == (JobState.CANCELLED, None)
    with db.write() as conn:  # plain successes share a statement: it must not win either
        [settled] = store.settle_many(conn, [Outcome(claim=held[plain])])
    assert settled.state is JobState.CANCELLED
    assert get(db, store, plain).state is JobState.CANCELLED


def test_cancels_requested_names_the_running_attempts_asked_to_stop(
    db: Database, store: JobStore
) -> None:
    asked, other = enqueue(db, store), enqueue(db, store)
    held = {c.job_id: c for c in claim(db, store, limit=2)}
    with db.write() as conn:
        assert store.cancels_requested(conn, held.values()) == frozenset()
        store.cancel(conn, asked)
    with db.read() as conn:
        assert store.cancels_requested(conn, held.values()) == {held[asked]}
        stale = Claimed(asked, held[asked].attempt + 1)  # not the attempt asked
        assert store.cancels_requested(conn, [stale, held[other]]) == frozenset()


def test_a_late_plain_success_is_still_refused_by_the_fence(db: Database, store: JobStore) -> None:
    job_id = enqueue(db, store)
    [held] = claim(db, store)
    assert settle(db, store, Outcome(claim=held)) is JobState.COMPLETED
    with db.write() as conn:
        [again] = store.settle_many(conn, [Outcome(claim=held)])
    assert again.state is None
    assert get(db, store, job_id).state is JobState.COMPLETED


def test_heartbeat_extends_leases_and_reports_lost_ones(
    db: Database, store: JobStore, clock: ManualClock
) -> None:
    first, second = enqueue(db, store), enqueue(db, store)
    held = claim(db, store, limit=2)
    with db.write() as conn:
        store.cancel(conn, second)
    clock.advance(20)
    gone = Claimed(first, 99)
    with db.write() as conn:
        report = store.extend_leases(conn, [*held, gone])
    assert report.lost == {gone}
    assert {c.job_id for c in report.cancel_requested} == {second}
    assert get(db, store, first).lease_expires_at == clock.now() + timedelta(seconds=30)


def test_reaper_requeues_expired_leases_then_fails_when_attempts_are_used(
    db: Database, store: JobStore, clock: ManualClock
) -> None:
    job_id = enqueue(db, store, max_attempts=2)
    [first] = claim(db, store)
    clock.advance(29)
    with db.write() as conn:
        assert store.reap_expired(conn) == []
    clock.advance(2)
    with db.write() as conn:
        [settled] = store.reap_expired(conn)
    assert (settled.state, settled.retry_in_s) == (JobState.QUEUED, 10.0)
    assert get(db, store, job_id).error["code"] == "lease_expired"  # type: ignore[index]
    # The zombie of the first attempt wakes up: its completion is refused.
    clock.advance(10)
    [second] = claim(db, store)
    assert settle(db, store, Outcome(claim=first, result={})) is None
    clock.advance(31)
    with db.write() as conn:
        [settled] = store.reap_expired(conn)
    assert settled.state is JobState.FAILED
    assert settle(db, store, Outcome(claim=second, result={})) is None


def test_release_hands_back_without_using_an_attempt(db: Database, store: JobStore) -> None:
    kept, cancelled = enqueue(db, store), enqueue(db, store)
    held = claim(db, store, limit=2)
    with db.write() as conn:
        store.cancel(conn, cancelled)
    with db.write() as conn:
        assert store.release(conn, held) == 2
    job = get(db, store, kept)
    assert (job.state, job.attempts_used, job.worker_id) == (JobState.QUEUED, 0, None)
    assert get(db, store, cancelled).state is JobState.CANCELLED
    [again] = claim(db, store)
    assert again.attempt == 2  # the fence still moves on


def test_unique_key_allows_one_active_job(db: Database, store: JobStore) -> None:
    with db.write() as conn:
        first = store.enqueue(conn, NewJob(task="noop", unique_key="cleanup"))
        second = store.enqueue(conn, NewJob(task="noop", unique_key="cleanup"))
    assert first.created
    assert not second.created
    assert second.job.id == first.job.id
    [held] = claim(db, store)
    settle(db, store, Outcome(claim=held, result=None))
    with db.write() as conn:
        third = store.enqueue(conn, NewJob(task="noop", unique_key="cleanup"))
    assert third.created
    assert third.job.id != first.job.id


def test_enqueue_many_keeps_order(db: Database, store: JobStore) -> None:
    with db.write() as conn:
        ids = store.enqueue_many(conn, [NewJob(task="noop", payload={"i": i}) for i in range(5)])
    assert ids == sorted(ids)
    assert [get(db, store, i).payload["i"] for i in ids] == list(range(5))


def test_concurrent_claims_take_each_job_once(db: Database, store: JobStore) -> None:
    with db.write() as conn:
        ids = store.enqueue_many(conn, [NewJob(task="noop") for _ in range(200)])
    taken: list[int] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while True:
            try:
                got = claim(db, store, limit=7, worker=name)
            except Exception as exc:  # SQLite may say "locked" under contention: retry
                if "locked" in str(exc):
                    continue
                raise
            if not got:
                return
            with lock:
                taken.extend(c.job_id for c in got)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == ids


def test_prune_keeps_by_count_and_age(db: Database, store: JobStore, clock: ManualClock) -> None:
    now = clock.now()
    rows = [
        {
            "task": "noop",
            "payload": {},
            "state": state,
            "run_after": now,
            "max_attempts": 1,
            "created_at": now,
            "updated_at": now,
            "finished_at": now - timedelta(seconds=age),
        }
        for state, age in [
            ("completed", 10),
            ("completed", 20),
            ("completed", 5000),
            ("failed", 10),
            ("failed", 20),
            ("queued", 9999),
        ]
    ]
    with db.write() as conn:
        conn.execute(insert(jobs), rows)
    with db.write() as conn:
        removed = store.prune(
            conn,
            keep_completed=KeepPolicy(count=5, age_s=1000),
            keep_failed=KeepPolicy(count=1),
        )
    assert removed == 2
    with db.read() as conn:
        stats = store.stats(conn)
    assert stats.counts[JobState.COMPLETED] == 2
    assert stats.counts[JobState.FAILED] == 1
    assert stats.counts[JobState.QUEUED] == 1
    assert stats.oldest_queued_at == now


def test_settle_many_batches_plain_successes_and_stays_fenced(
    db: Database, store: JobStore
) -> None:
    ids = [enqueue(db, store) for _ in range(4)]
    held = claim(db, store, limit=4)
    stale = Claimed(ids[0], 99)
    outcomes = [
        Outcome(claim=held[0]),
        Outcome(claim=held[1], result={"rows": 1}),
        Outcome(claim=held[2], error=TERMINAL),
        Outcome(claim=stale),
        Outcome(claim=held[3]),
    ]
    with db.write() as conn:
        settled = store.settle_many(conn, outcomes)
    assert [s.state for s in settled] == [
        JobState.COMPLETED,
        JobState.COMPLETED,
        JobState.FAILED,
        None,
        JobState.COMPLETED,
    ]
    assert all(s.task == "noop" for s in settled if s.accepted)
    assert get(db, store, ids[1]).result == {"rows": 1}


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_new_job_is_announced_at_commit_and_a_duplicate_is_not(
    db: Database, store: JobStore
) -> None:
    url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as listener:
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        with db.write() as conn:
            store.enqueue(conn, NewJob(task="t", payload={}, queue="reports", unique_key="k"))
            assert not list(listener.notifies(timeout=0.2))  # nothing before the commit
        assert [n.payload for n in listener.notifies(timeout=2, stop_after=1)] == ["reports"]
        with db.write() as conn:  # the same key is active: no new job, no notice
            store.enqueue(conn, NewJob(task="t", payload={}, queue="reports", unique_key="k"))
        with db.write() as conn:
            store.enqueue(conn, NewJob(task="t", payload={}, queue="default"))
        assert [n.payload for n in listener.notifies(timeout=2, stop_after=1)] == ["default"]
        assert not list(listener.notifies(timeout=0.2))

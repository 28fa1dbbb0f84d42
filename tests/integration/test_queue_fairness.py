"""Fair turns between keys (owners), each key's running limit, and paused queues: the
store's contract on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from sqlalchemy import event, func, select, text

from exportd.clock import ManualClock
from exportd.db import Database
from exportd.db.tables import jobs
from exportd.errors import ErrorInfo, NotFound
from exportd.queue import Job, JobState, JobStore, NewJob, RetryPolicy
from exportd.queue.control import QueueControl
from exportd.queue.models import Claimed, Outcome


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(clock: ManualClock) -> JobStore:
    policy = RetryPolicy(max_attempts=8, base_s=10, cap_s=100, jitter=0.0)
    return JobStore(policy=policy, lease_s=30, clock=clock)


def enqueue(db: Database, store: JobStore, key: str | None, n: int = 1, **kw: object) -> list[int]:
    with db.write() as conn:
        return [
            store.enqueue(conn, NewJob(task="noop", fair_key=key, **kw)).job.id  # type: ignore[arg-type]
            for _ in range(n)
        ]


def claim(db: Database, store: JobStore, limit: int, worker: str = "w") -> list[Job]:
    with db.write() as conn:
        return store.claim(conn, worker_id=worker, queues=["default"], limit=limit)


def complete(db: Database, store: JobStore, job: Job) -> None:
    with db.write() as conn:
        assert store.settle(conn, Outcome(claim=Claimed(job.id, job.attempt))).accepted


def running_per_key(db: Database) -> Counter[str]:
    with db.read() as conn:
        rows = conn.execute(
            select(jobs.c.fair_key, func.count())
            .where(jobs.c.state == "running", jobs.c.fair_key.is_not(None))
            .group_by(jobs.c.fair_key)
        ).all()
    return Counter({key: count for key, count in rows})


def test_jobs_get_the_stores_attempts_whichever_way_they_are_queued(
    db: Database, store: JobStore
) -> None:
    # The store's policy (settings.job_attempts) is every job's budget, not a default 3.
    [one] = enqueue(db, store, None)
    [keyed] = enqueue(db, store, "alice")
    with db.write() as conn:
        many = store.enqueue_many(conn, [NewJob(task="noop"), NewJob(task="noop", fair_key="b")])
        own = store.enqueue(conn, NewJob(task="noop", max_attempts=2)).job.id
    with db.read() as conn:
        budgets = [store.get(conn, job_id).max_attempts for job_id in [one, keyed, *many, own]]
    assert budgets == [8, 8, 8, 8, 2]


def test_a_keyed_job_works_out_its_round_in_its_own_insert(db: Database, store: JobStore) -> None:
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        [first] = enqueue(db, store, "a")
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert [s.split()[0] for s in statements if "fair_round" in s] == ["INSERT"]
    a = [first, *enqueue(db, store, "a", 2)]
    [b] = enqueue(db, store, "b")
    [running] = claim(db, store, 1)  # a's round 1
    [c] = enqueue(db, store, "c")  # the head is b's round 1: c's turn comes with it
    [d] = enqueue(db, store, "a", 1, priority=-1)  # another line: a round of its own
    with db.read() as conn:
        rounds = dict(conn.execute(select(jobs.c.id, jobs.c.fair_round)).all())
    assert running.id == a[0]
    assert [rounds[job] for job in [*a, b, c, d]] == [1, 2, 3, 1, 1, 1]
    with db.write() as conn:  # the batch's way gives a line consecutive rounds
        many = store.enqueue_many(conn, [NewJob(task="noop", fair_key="b")] * 2)
    with db.read() as conn:
        rounds = dict(conn.execute(select(jobs.c.id, jobs.c.fair_round)).all())
    assert [rounds[job] for job in many] == [2, 3]
    assert {job.id for job in claim(db, store, 3)} == {b, c, d}
    [e] = enqueue(db, store, "e")  # the head is round 2 now: a newcomer goes just before it
    with db.read() as conn:
        assert conn.execute(select(jobs.c.fair_round).where(jobs.c.id == e)).scalar_one() == 1


def test_the_issues_scenario_a_second_owner_starts_before_the_firsts_third_next_job(
    db: Database, store: JobStore
) -> None:
    """One worker of concurrency 2; A queues 20 exports, then B asks for one."""
    enqueue(db, store, "a", 20)
    running = claim(db, store, 2)
    assert [job.fair_key for job in running] == ["a", "a"]
    [b_job] = enqueue(db, store, "b")
    started: list[Job] = []
    while running:
        done, running = running[0], running[1:]
        complete(db, store, done)
        running += claim(db, store, 2 - len(running))
        started += running[-1:] if len(running) == 2 else []
    order = [job.id for job in started]
    a_after_b = [job.id for job in started if job.fair_key == "a"]
    assert order.index(b_job) < order.index(a_after_b[2])
    assert order.index(b_job) == 0  # B had nothing running: it took the next turn


def test_keys_take_turns_within_a_priority_and_priority_still_comes_first(
    db: Database, store: JobStore
) -> None:
    a = enqueue(db, store, "a", 4)
    b = enqueue(db, store, "b", 2)
    c = enqueue(db, store, "c", 1)
    urgent = enqueue(db, store, "a", 1, priority=-1)
    plain = enqueue(db, store, None, 2)
    order = [job.id for job in claim(db, store, 20)]
    # Keyless jobs go ahead of keyed ones of their priority, in arrival order.
    assert order == urgent + plain + [a[0], b[0], c[0], a[1], b[1], a[2], a[3]]


def test_a_key_never_runs_more_than_its_limit(db: Database, store: JobStore) -> None:
    limited = enqueue(db, store, "free", 5, fair_limit=2)
    other = enqueue(db, store, "pro", 3)
    first = claim(db, store, 10)
    assert Counter(job.fair_key for job in first) == {"free": 2, "pro": 3}
    assert claim(db, store, 10) == []
    complete(db, store, next(job for job in first if job.fair_key == "free"))
    [again] = claim(db, store, 10)
    assert again.id == limited[2]
    assert {job.id for job in first} >= set(other)
    assert running_per_key(db)["free"] == 2


def test_the_limit_holds_across_many_concurrent_claimers(db: Database, store: JobStore) -> None:
    for key in ("k1", "k2", "k3"):
        enqueue(db, store, key, 30, fair_limit=2)
    enqueue(db, store, None, 30)
    seen: list[Counter[str]] = []
    errors: list[BaseException] = []
    gate = threading.Barrier(4)

    def worker(name: str) -> None:
        try:
            gate.wait()
            idle_rounds = 0
            while idle_rounds < 3:
                try:
                    got = claim(db, store, 3, worker=name)
                except Exception as exc:  # SQLite may say "locked" under contention
                    if "locked" in str(exc):
                        continue
                    raise
                seen.append(running_per_key(db))
                idle_rounds = 0 if got else idle_rounds + 1
                for job in got:
                    while True:
                        try:
                            complete(db, store, job)
                            break
                        except Exception as exc:
                            if "locked" not in str(exc):
                                raise
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert seen
    assert all(count <= 2 for snapshot in seen for count in snapshot.values())
    with db.read() as conn:
        left = conn.execute(select(func.count()).where(jobs.c.state != "completed")).scalar()
    assert left == 0


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@pytest.mark.postgres
def test_postgres_a_claim_racing_an_uncommitted_one_hands_back_what_goes_over(
    db: Database, store: JobStore
) -> None:
    """Claimer 2 reads the key's count before claimer 1 commits: it claims too, then
    finds the key over its limit under the key's lock and hands its job back.  (Claimer
    1 holds the few candidates it read beyond its claim locked: claimer 2 takes a later
    one.)"""
    ids = enqueue(db, store, "free", 20, fair_limit=1)
    first_claimed, commit_first = threading.Event(), threading.Event()
    second: list[Job] = []

    def first() -> None:
        with db.write() as conn:
            assert [
                job.id for job in store.claim(conn, worker_id="w1", queues=["default"], limit=1)
            ] == ids[:1]
            first_claimed.set()
            commit_first.wait(10)

    def claim_second() -> None:
        second.extend(claim(db, store, 1, worker="w2"))

    one = threading.Thread(target=first)
    one.start()
    assert first_claimed.wait(10)
    two = threading.Thread(target=claim_second)
    two.start()
    assert waiting_on_advisory_lock(db)  # claimer 2 made its claim, now waits on the key
    commit_first.set()
    one.join()
    two.join(10)
    assert second == []
    with db.read() as conn:
        states = [store.get(conn, job_id) for job_id in ids]
    assert [job.state for job in states] == [JobState.RUNNING] + [JobState.QUEUED] * 19
    assert [job.attempts_used for job in states] == [1] + [0] * 19
    assert sum(job.attempt for job in states[1:]) == 1  # claimer 2's, handed back
    assert running_per_key(db)["free"] == 1


def waiting_on_advisory_lock(db: Database, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.read() as conn:
            waiting = conn.execute(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            ).scalar()
        if waiting:
            return True
        time.sleep(0.01)
    return False


def test_a_requeued_dead_letter_takes_a_fresh_turn(db: Database, store: JobStore) -> None:
    [dead] = enqueue(db, store, "a")
    [job] = claim(db, store, 1)
    with db.write() as conn:
        error = ErrorInfo("validation_failed", "bad", False)
        store.settle(conn, Outcome(claim=Claimed(job.id, job.attempt), error=error))
    waiting = enqueue(db, store, "b", 2) + enqueue(db, store, "a", 1)
    with db.write() as conn:
        requeued = store.requeue(conn, dead)
    assert requeued.fair_round > job.fair_round
    order = [job.id for job in claim(db, store, 10)]
    assert order.index(dead) > order.index(waiting[2])


def test_a_paused_queue_is_not_claimed_and_stays_paused_for_a_new_store(
    db: Database, store: JobStore, clock: ManualClock
) -> None:
    enqueue(db, store, "a", 2)
    [held] = claim(db, store, 1)
    control = QueueControl(clock=clock)
    with db.write() as conn:
        state = control.pause(conn, "default", by="admin:root")
    assert (state.paused, state.paused_by, state.queued, state.running) == (
        True,
        "admin:root",
        1,
        1,
    )
    assert state.paused_at == clock.now()
    fresh = JobStore(policy=store.policy, clock=clock)
    assert claim(db, fresh, 5) == []
    with db.read() as conn:
        assert not fresh.has_ready(conn, queues=["default"])
        assert QueueControl().get(conn, "default").paused
    complete(db, fresh, held)  # a running job finishes while paused
    with db.write() as conn:
        resumed = QueueControl(clock=clock).resume(conn, "default")
    assert (resumed.paused, resumed.paused_by) == (False, None)
    assert len(claim(db, fresh, 5)) == 1


def test_pausing_one_queue_leaves_the_others(db: Database, store: JobStore) -> None:
    enqueue(db, store, None, 1, queue="email")
    enqueue(db, store, None, 1)
    with db.write() as conn:
        QueueControl().pause(conn, "email", by="ops")
        got = store.claim(conn, worker_id="w", queues=["default", "email"], limit=5)
    assert [job.queue for job in got] == ["default"]


def test_unknown_queues_are_refused_and_known_ones_listed(db: Database, store: JobStore) -> None:
    enqueue(db, store, None, 1, queue="reports")
    control = QueueControl()
    with db.write() as conn:
        with pytest.raises(NotFound) as refused:
            control.pause(conn, "nope", by="ops")
        assert refused.value.code == "queue_unknown"
        with pytest.raises(NotFound):
            control.get(conn, "nope")
        assert [q.name for q in control.list(conn)] == ["default", "reports"]
        control.pause(conn, "reports", by="ops")
        assert control.paused(conn) == {"reports": True}

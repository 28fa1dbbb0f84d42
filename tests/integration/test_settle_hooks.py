"""Outcomes and their task's settle hook, as the supervisor records them: in one
transaction with the next claim, the hooks bare (no savepoint: two round trips an export
on PostgreSQL), and when a hook fails, the whole transaction again with each hook in a
savepoint, so that a failing hook undoes its own writes and nothing else."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Connection, event, select, update

from exportd.config import Settings
from exportd.db import Database
from exportd.db.tables import jobs
from exportd.errors import TerminalJobError
from exportd.queue import JobState, JobStore
from exportd.queue.app import App, WorkerContext
from exportd.queue.models import Claimed, NewJob, Outcome, Settled
from exportd.worker.outcomes import Finished, Outcomes

TASK = "t"


class World:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.db = db
        self.store = JobStore.from_settings(settings)
        self.context = WorkerContext(settings=settings, db=db, store=self.store)
        self.app = App()
        self.app.task(TASK, on_settled=self.hook)(lambda ctx, payload: None)
        self.outcomes = Outcomes(self.app, self.context)
        self.behaviour: dict[int, str] = {}
        self.hook_calls = 0

    def hook(self, conn: Connection, settled: Settled, worker: WorkerContext) -> None:
        """Its own write (the job's priority says which outcome it saw), then perhaps a
        refusal (a quota decided at settle) or a crash."""
        self.hook_calls += 1
        job_id = settled.claim.job_id
        priority = 7 if settled.state is JobState.COMPLETED else 3
        conn.execute(update(jobs).where(jobs.c.id == job_id).values(priority=priority))
        behaviour = self.behaviour.get(job_id)
        if behaviour == "refuse" and settled.error is None:
            raise TerminalJobError("no room left", code="storage_quota_exceeded")
        if behaviour == "crash":
            raise RuntimeError("a bug in the hook")

    def claimed(self, count: int) -> list[Finished]:
        with self.db.write() as conn:
            for _ in range(count):
                self.store.enqueue(conn, NewJob(task=TASK))
            claimed = self.store.claim(conn, worker_id="w", queues=["default"], limit=count)
        return [
            Finished(Outcome(claim=Claimed(j.id, j.attempt), result={}), TASK, None, 0.1)
            for j in claimed
        ]

    def row(self, job_id: int) -> Any:
        with self.db.read() as conn:
            return conn.execute(select(jobs).where(jobs.c.id == job_id)).one()


@pytest.fixture
def world(settings: Settings, db: Database) -> World:
    return World(settings, db)


def savepoints_during(db: Database, work: Any) -> tuple[Any, int]:
    taken: list[str] = []

    def note(conn: Any, name: str) -> None:
        taken.append(name)

    event.listen(db.engine, "savepoint", note)
    try:
        return work(), len(taken)
    finally:
        event.remove(db.engine, "savepoint", note)


def test_hooks_that_succeed_run_without_savepoints_and_commit_with_the_claim(
    world: World,
) -> None:
    pending = world.claimed(3)
    with world.db.write() as conn:
        world.store.enqueue(conn, NewJob(task=TASK))

    def claim_next(conn: Connection) -> list[Any]:
        return world.store.claim(conn, worker_id="w", queues=["default"], limit=1)

    (settled, [next_job]), savepoints = savepoints_during(
        world.db, lambda: world.outcomes.settle_then(world.db, pending, claim_next)
    )
    assert savepoints == 0
    assert [s.state for s in settled] == [JobState.COMPLETED] * 3
    assert world.hook_calls == 3
    for done in pending:
        row = world.row(done.outcome.claim.job_id)
        assert (row.state, row.priority) == ("completed", 7)
    assert world.row(next_job.id).state == "running"


def test_a_refusing_hook_reruns_the_transaction_with_savepoints(world: World) -> None:
    first, refused, crashed = world.claimed(3)
    world.behaviour[refused.outcome.claim.job_id] = "refuse"
    world.behaviour[crashed.outcome.claim.job_id] = "crash"
    thens: list[int] = []

    def then(conn: Connection) -> int:
        thens.append(1)
        return len(thens)

    (settled, ran), savepoints = savepoints_during(
        world.db, lambda: world.outcomes.settle_then(world.db, [first, refused, crashed], then)
    )
    assert savepoints > 0  # the second run
    assert ran == 1  # once: the first run stopped at the hook
    assert thens == [1]
    by_job = {s.claim.job_id: s for s in settled}
    # The first outcome is kept once, with its hook's write.
    one = world.row(first.outcome.claim.job_id)
    assert (one.state, one.priority) == ("completed", 7)
    # The refusal fails the attempt: the write made for the completion is undone, the
    # hook's write for the failure kept.
    two = world.row(refused.outcome.claim.job_id)
    assert (two.state, two.priority) == ("failed", 3)
    assert by_job[two.id].error is not None
    assert by_job[two.id].error.code == "storage_quota_exceeded"
    # A crashing hook fails the attempt (to be tried again) and writes nothing of its own.
    three = world.row(crashed.outcome.claim.job_id)
    assert (three.state, three.priority) == ("queued", 0)
    assert three.error["code"] == "internal_error"

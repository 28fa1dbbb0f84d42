"""The services the operator's commands call: each call is its own transaction."""

from __future__ import annotations

import pytest

from exportd.db import Database
from exportd.errors import JobNotFound, RequestInvalid
from exportd.exports.plan_book import PlanBook
from exportd.queue import JobState, JobStore, NewJob, RetryPolicy
from exportd.queue.operations import QueueOperations


def test_a_new_plan_starts_from_the_free_plan_and_keeps_what_is_not_changed(db: Database) -> None:
    book = PlanBook(db)
    free = next(plan for plan in book.all() if plan.name == "free")
    team = book.change("team", max_rows=123)
    assert team.max_rows == 123
    assert team.retention_days == free.retention_days
    again = book.change("team", retention_days=9)
    assert (again.max_rows, again.retention_days) == (123, 9)
    assert "team" in {plan.name for plan in book.all()}


def test_a_refused_change_saves_nothing(db: Database) -> None:
    book = PlanBook(db)
    with pytest.raises(RequestInvalid) as refused:
        book.change("odd", formats_allowed=("csv", "docx"))
    assert refused.value.code == "plan_formats_invalid"
    assert "odd" not in {plan.name for plan in book.all()}


def test_queue_operations_list_retry_and_cancel(db: Database) -> None:
    store = JobStore(policy=RetryPolicy(max_attempts=1, base_s=0, cap_s=0))
    queue = QueueOperations(db, store)
    with db.write() as conn:
        first = store.enqueue(conn, NewJob(task="t.one", payload={})).job
        second = store.enqueue(conn, NewJob(task="t.two", payload={})).job
    assert [job.id for job in queue.jobs(task="t.two")] == [second.id]
    assert queue.overview().stats.counts[JobState.QUEUED] == 2
    assert queue.cancel(first.id) is JobState.CANCELLED
    assert queue.job(first.id).state is JobState.CANCELLED
    assert [job.id for job in queue.jobs(state=JobState.QUEUED)] == [second.id]
    with pytest.raises(JobNotFound):
        queue.retry(10_000)

"""When a running supervisor claims: a child that frees up claims only if a job may be
waiting, so a settle with nothing queued ends without a claim that would find nothing
(a statement an export, in the time a client waits for its outcome).

PostgreSQL only: on SQLite every commit wakes the worker, its own too, so a settle there
claims whenever a job is ready, and the claim is a local read in the write it makes
anyway."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from exportd.app_wiring import worker_app
from exportd.config import Settings
from exportd.db import Database
from exportd.queue import JobState, JobStore, NewJob
from exportd.worker.supervisor import Supervisor
from tests.support.databases import migrated_database

CLAIM_PREFIX = "UPDATE jobs SET state='running'"


class Claims:
    """Claim statements the supervisor's engine runs, counted."""

    def __init__(self, db: Database) -> None:
        self.count = 0
        self._db = db
        event.listen(db.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith(CLAIM_PREFIX):
            self.count += 1

    def close(self) -> None:
        event.remove(self._db.engine, "before_cursor_execute", self._seen)


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with migrated_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def running(settings: Settings, db: Database) -> Iterator[tuple[Supervisor, Claims]]:
    # Polls far apart: every claim in the test comes from a wake-up or a finished job.
    config = settings.model_copy(update={"poll_interval_s": 60.0})
    supervisor = Supervisor(
        settings=config,
        db=db,
        store=JobStore.from_settings(config),
        app=worker_app(["tests.support.tasks"]),
        concurrency=2,
    )
    claims = Claims(db)
    thread = threading.Thread(target=supervisor.run, name="supervisor")
    thread.start()
    try:
        time.sleep(1.0)  # children started, the first look at the queue done
        yield supervisor, claims
    finally:
        supervisor.request_stop(grace_s=0)
        thread.join(30)
        claims.close()
    assert not thread.is_alive()


def finished(db: Database, store: JobStore, task: str, **payload: Any) -> JobState:
    """Enqueue one job and wait for its first attempt to end: its state then."""
    with db.write() as conn:
        job_id = store.enqueue(conn, NewJob(task=task, payload=payload)).job.id
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with db.read() as conn:
            job = store.get(conn, job_id)
        if job.attempts_used and job.state is not JobState.RUNNING:
            time.sleep(0.3)  # whatever the supervisor does after it, done
            return job.state
        time.sleep(0.02)
    raise AssertionError("the job did not run")


def test_a_job_done_with_nothing_queued_is_settled_without_a_claim(
    running: tuple[Supervisor, Claims],
) -> None:
    supervisor, claims = running
    before = claims.count
    assert finished(supervisor.db, supervisor.store, "exportd.noop") is JobState.COMPLETED
    # Its own claim (two children free, one job: the queue was empty) and nothing after.
    assert claims.count - before == 1


def test_a_job_that_will_be_retried_is_settled_with_a_claim(
    running: tuple[Supervisor, Claims],
) -> None:
    """A retry may be ready at once: the settle looks for it, as it did for every job."""
    supervisor, claims = running
    before = claims.count
    state = finished(supervisor.db, supervisor.store, "test.fail", retryable=True)
    assert state is JobState.QUEUED
    assert claims.count - before == 2


def test_a_limited_keys_next_job_starts_as_its_last_one_ends(
    running: tuple[Supervisor, Claims],
) -> None:
    """Its end makes room under the key's limit: the settle claims the next job at once
    (with two children free, the claim that took the first came back short)."""
    supervisor, _ = running
    db, store = supervisor.db, supervisor.store
    with db.write() as conn:
        ids = [
            store.enqueue(
                conn,
                NewJob(
                    task="exportd.sleep",
                    payload={"seconds": 0.2},
                    fair_key="owner-a",
                    fair_limit=1,
                ),
            ).job.id
            for _ in range(2)
        ]
    deadline = time.monotonic() + 5  # far less than the 60 s poll
    while time.monotonic() < deadline:
        with db.read() as conn:
            states = [store.get(conn, job_id).state for job_id in ids]
        if states == [JobState.COMPLETED, JobState.COMPLETED]:
            return
        time.sleep(0.05)
    raise AssertionError(f"the key's jobs did not both run in turn: {states}")

"""Claim hooks run in the transaction that claims jobs: an export's attempt is recorded
as started there, once per attempt, and the child writes nothing of its own for it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from exportd.app_wiring import worker_app
from exportd.auth.principal import Principal
from exportd.config import Settings
from exportd.db import Database
from exportd.db.tables import export_events
from exportd.exports.models import ExportRequest
from exportd.exports.service import ExportService
from exportd.queue import JobStore
from exportd.queue.app import App, WorkerContext
from tests.support.sources import fake_sources


def started_events(db: Database, export_id: str) -> list[Any]:
    with db.read() as conn:
        return list(
            conn.execute(
                select(export_events.c.attempt, export_events.c.job_id).where(
                    export_events.c.export_id == export_id, export_events.c.kind == "started"
                )
            )
        )


def test_claiming_an_export_records_its_start_in_the_same_transaction(
    settings: Settings, db: Database
) -> None:
    store = JobStore.from_settings(settings)
    service = ExportService(db=db, store=store, sources=fake_sources(), settings=settings)
    view, _ = service.create(
        Principal("alice", "free"), ExportRequest(source="trades", format="csv", params={})
    )
    app = worker_app()
    context = WorkerContext(settings=settings, db=db, store=store)
    assert started_events(db, view.id) == []

    def claim_and_fail() -> None:
        with db.write() as conn:
            jobs = store.claim(conn, worker_id="w", queues=["default"], limit=5)
            app.claimed(conn, jobs, context)
            raise RuntimeError("a claim that does not commit leaves no start either")

    with pytest.raises(RuntimeError):
        claim_and_fail()
    assert started_events(db, view.id) == []
    with db.write() as conn:
        [job] = store.claim(conn, worker_id="w", queues=["default"], limit=5)
        app.claimed(conn, [job], context)
    assert [tuple(row) for row in started_events(db, view.id)] == [(job.attempt, job.id)]


def test_no_job_claimed_calls_no_hook(settings: Settings, db: Database) -> None:
    app, calls = App(), []
    app.on_claimed(lambda conn, jobs, worker: calls.append(jobs))
    context = WorkerContext(settings=settings, db=db, store=JobStore.from_settings(settings))
    with db.write() as conn:
        app.claimed(conn, [], context)
    assert calls == []

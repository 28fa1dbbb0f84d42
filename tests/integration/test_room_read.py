"""A create's room read (the plan, the owner's active exports, their usage) does work in
proportion to the owner's active exports, not their history squared, even on a database
PostgreSQL has no statistics for yet (a new deployment before autovacuum's first ANALYZE,
when the planner guesses one row per table)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from sqlalchemy import text, update

from exportd.auth.principal import Principal
from exportd.config import Settings
from exportd.db import Database
from exportd.db.tables import exports, jobs
from exportd.exports import read_model
from exportd.exports.models import ExportRequest
from exportd.exports.plans import plan_for, save_plan
from exportd.exports.quotas import usage_params
from exportd.exports.service import ExportService
from exportd.queue import JobStore
from tests.support.sources import fake_sources

pytestmark = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)

HISTORY, ACTIVE = 200, 3


def _forget_statistics(db: Database) -> None:
    """Back to what a new database's planner knows of these tables: nothing."""
    with db.write() as conn:
        conn.execute(
            text(
                "DELETE FROM pg_statistic WHERE starelid IN ('jobs'::regclass, 'exports'::regclass)"
            )
        )
        conn.execute(
            text(
                "UPDATE pg_class SET reltuples = -1, relpages = 0"
                " WHERE oid IN ('jobs'::regclass, 'exports'::regclass)"
            )
        )


def _buffers(db: Database, statement: Any, params: dict[str, Any]) -> int:
    expanded = statement.compile(dialect=db.engine.dialect).construct_expanded_state(params)
    with db.engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + expanded.statement, expanded.parameters
        )
        plan = cursor.fetchone()[0]
    plan = plan if isinstance(plan, list) else json.loads(plan)
    top = plan[0]["Plan"]
    return int(top["Shared Hit Blocks"]) + int(top.get("Shared Read Blocks", 0))


def test_the_room_read_does_not_join_each_export_to_the_owner_s_jobs(
    db: Database, settings: Settings
) -> None:
    store = JobStore.from_settings(settings)
    service = ExportService(db=db, store=store, sources=fake_sources(), settings=settings)
    with db.write() as conn:
        pro = plan_for(conn, "pro")
        save_plan(conn, dataclasses.replace(pro, name="roomy", max_active_jobs=10_000))
    alice = Principal("alice", "roomy")
    ids = [
        service.create(alice, ExportRequest(source="trades", format="csv", params={}))[0].id
        for _ in range(HISTORY)
    ]
    with db.write() as conn:  # all but the last few are done
        conn.execute(
            update(jobs).where(jobs.c.id.in_(_job_ids(db, ids[:-ACTIVE]))).values(state="completed")
        )
    _forget_statistics(db)
    now = service.clock.now()
    with db.read() as conn:
        room = read_model.plan_and_room(conn, "roomy", "alice", now)
    assert room.active == ACTIVE
    params = {"plan_name": "roomy", "owner_id": "alice", **usage_params(now)}
    # Counted through a join of the exports to their jobs, a fresh database visited the
    # owner's jobs once per export of theirs: 2,820 buffers here (29 now).
    buffers = _buffers(db, read_model._PLAN_AND_ROOM, params)
    assert buffers < HISTORY, buffers


def _job_ids(db: Database, export_ids: list[str]) -> list[int]:
    with db.read() as conn:
        rows = conn.execute(exports.select().where(exports.c.id.in_(export_ids))).all()
    return [row.job_id for row in rows]

"""A schedule run by real worker processes, in real time, across a restart: two workers
tick side by side (one node at a time), both stop, the schedule's due times pass with no
worker up, a new worker starts.  Each due time is run once or counted as missed once —
never twice; the outage makes ONE catch-up run; every run is a completed export."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from exportd.auth.principal import Principal
from exportd.db.tables import exports, schedule_runs
from exportd.demo.sources import TradesSource
from exportd.demo.tables import create_demo_tables, seed_trades
from exportd.exports.models import ExportRequest
from exportd.exports.plans import plan_for, save_plan
from exportd.exports.service import ExportService
from exportd.schedules.models import ScheduleChange, ScheduleSpec
from exportd.schedules.service import ScheduleService
from exportd.sources import SourceRegistry
from tests.support.workers import Harness

pytestmark = pytest.mark.slow

# The shortest interval a schedule can have: the test waits on real due times.
EVERY_S = 1


@pytest.fixture
def harness(database_url: str, tmp_path: Path) -> Iterator[Harness]:
    h = Harness(database_url, tmp_path)
    yield h
    h.close()


def _runs(harness: Harness) -> list[dict[str, Any]]:
    with harness.db.read() as conn:
        rows = conn.execute(
            select(schedule_runs, exports.c.status, exports.c.schedule_id.label("owner"))
            .select_from(
                schedule_runs.outerjoin(exports, exports.c.id == schedule_runs.c.export_id)
            )
            .order_by(schedule_runs.c.due_at)
        ).all()
    return [dict(row._mapping) for row in rows]


def _wait_for_runs(harness: Harness, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(_runs(harness)) >= count:
            return
        time.sleep(0.1)
    logs = "\n".join(w.log_path.read_text()[-3000:] for w in harness.workers)
    raise AssertionError(f"fewer than {count} runs: {_runs(harness)}\n{logs}")


def test_each_due_time_runs_once_across_workers_and_a_restart(
    harness: Harness, tmp_path: Path
) -> None:
    settings = harness.settings.model_copy(update={"schedule_min_interval_s": 1})
    with harness.db.write() as conn:
        create_demo_tables(conn)
        seed_trades(conn, "alice", 30)
        save_plan(
            conn,
            replace(
                plan_for(conn, "free"), name="fast", min_schedule_interval_s=1, max_active_jobs=100
            ),
        )
    service = ScheduleService(
        db=harness.db,
        exports=ExportService(
            db=harness.db,
            store=harness.store,
            sources=SourceRegistry([TradesSource()]),
            settings=settings,
        ),
        settings=settings,
    )
    alice = Principal("alice", "fast")
    request = ExportRequest(source="trades", format="csv", params={"limit": 5})
    schedule = service.create(alice, ScheduleSpec(request=request, every=f"{EVERY_S}s"))
    env = {
        "schedule_tick_s": "0.2",
        "schedule_min_interval_s": "1",
        "source_modules": '["exportd.demo.sources:demo_sources"]',
        "storage_url": f"file://{tmp_path / 'files'}",
    }
    first = [harness.start_worker(concurrency=1, **env) for _ in range(2)]
    _wait_for_runs(harness, 3)
    for worker in first:  # both asked at once (a second SIGTERM would mean "now")
        worker.signal(signal.SIGTERM)
    for worker in first:
        worker.process.wait(20)
        assert worker.stop() == 0
    stopped_at = len(_runs(harness))
    time.sleep(3 * EVERY_S + 0.5)  # three due times or more pass with no worker up
    harness.start_worker(concurrency=1, **env)
    _wait_for_runs(harness, stopped_at + 3)
    service.update(alice, schedule.id, ScheduleChange(fields=frozenset({"active"}), active=False))
    done = _runs(harness)
    deadline = time.monotonic() + 30
    while any(r["status"] in ("queued", "running") for r in done) and time.monotonic() < deadline:
        time.sleep(0.1)
        done = _runs(harness)

    due = [r["due_at"] for r in done]
    assert len(due) == len(set(due))  # (also the table's unique constraint)
    anchor = service.get(alice, schedule.id).created_at
    step = timedelta(seconds=EVERY_S)
    assert all((d - anchor) % step == timedelta(0) for d in due), due
    # Every due time from the first run to the last was run, or counted missed, once.
    grid = (due[-1] - due[0]) // step + 1
    assert sum(1 + int(r["missed"]) for r in done[1:]) + 1 == grid, done
    # The outage made one catch-up run that counts the due times it passed over.
    catch_up = done[stopped_at]
    assert int(catch_up["missed"]) >= 2, done
    assert [(r["outcome"], r["owner"], r["error"]) for r in done] == [
        ("queued", schedule.id, None)
    ] * len(done)
    assert {r["status"] for r in done} == {"completed"}, done
    with harness.db.read() as conn:
        made = conn.execute(select(exports.c.id).where(exports.c.schedule_id == schedule.id)).all()
    assert len(made) == len(done)

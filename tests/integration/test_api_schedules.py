"""Schedules through the real app and the real tick, on SQLite and PostgreSQL: the
refusals and their codes, owner scoping, runs made by the tick with a fake clock (one per
due time, one catch-up after an outage), pausing after failures, run now, and
skip_if_empty through the real export task."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select, update
from sqlalchemy.exc import IntegrityError

from exportd.api.app import create_app
from exportd.app_wiring import worker_app
from exportd.clock import ManualClock
from exportd.config import Settings
from exportd.db import Database
from exportd.db.tables import deliveries, export_events, plan_limits, schedule_runs, schedules
from exportd.demo.tables import create_demo_tables, seed_trades
from exportd.errors import ErrorInfo
from exportd.exports import task
from exportd.exports.task import EXPORT_TASK
from exportd.queue.app import WorkerContext
from exportd.queue.models import Claimed, Outcome
from exportd.schedules import runs
from exportd.schedules.ticker import Ticker
from tests.support.api import Api
from tests.support.sources import fake_sources

TRADES = {"source": "trades", "format": "csv", "params": {}}
HOURLY = {"export": TRADES, "every": "1h"}


@dataclass
class World:
    api: Api
    clock: ManualClock
    db: Database
    settings: Settings
    ticker: Ticker

    def post(self, body: dict[str, Any], user: str = "alice", **kw: Any) -> Any:
        return self.api.client.post(
            "/v1/schedules", json=body, headers=self.api.as_user(user, **kw)
        )

    def call(self, method: str, path: str, user: str = "alice", **kw: Any) -> Any:
        return self.api.client.request(method, path, headers=self.api.as_user(user), **kw)

    def runs_of(self, schedule_id: str) -> list[dict[str, Any]]:
        page = self.call("GET", "/v1/exports", params={"schedule_id": schedule_id})
        assert page.status_code == 200, page.text
        return page.json()["items"]

    def settle(self, *, error: str | None = None, result: dict[str, Any] | None = None) -> None:
        """The next queued job ends as a worker would record it (the app's settle hooks)."""
        service = self.api.client.app.state.exports  # type: ignore[attr-defined]
        with self.db.write() as conn:
            [job] = service.store.claim(conn, worker_id="w", queues=["default"], limit=1)
            failure = ErrorInfo(error, f"{error} happened", False) if error else None
            outcome = Outcome(claim=Claimed(job.id, job.attempt), result=result, error=failure)
            settled = service.store.settle(conn, outcome)
            hook = worker_app().tasks.get(EXPORT_TASK).on_settled
            assert hook is not None
            hook(conn, settled, WorkerContext(self.settings, self.db, service.store))

    def schedule_row(self, schedule_id: str) -> Any:
        with self.db.read() as conn:
            return conn.execute(select(schedules).where(schedules.c.id == schedule_id)).one()


@pytest.fixture
def world(settings: Settings, db: Database, tmp_path: Path) -> Iterator[World]:
    config = settings.model_copy(
        update={
            "storage_url": f"file://{tmp_path / 'files'}",
            "source_modules": ["exportd.demo.sources:demo_sources"],
            "schedule_max_failures": 3,
        }
    )
    # Tokens expire by the real time: the clock starts from now, on a whole minute.
    clock = ManualClock(datetime.now(UTC).replace(second=0, microsecond=0))
    app = create_app(config, db=db, sources=fake_sources(), clock=clock)
    with TestClient(app) as client:
        ticker = Ticker(db=db, exports=app.state.exports, settings=config, clock=clock)
        yield World(Api(client, config), clock, db, config, ticker)


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


# -- create, read, refuse ------------------------------------------------------------------


def test_create_a_cron_schedule_and_read_it(world: World) -> None:
    body = {
        "export": {**TRADES, "params": {"symbol": "AAPL"}, "columns": ["symbol", "pnl:P&L"]},
        "cron": "0 6 * * 1",
        "timezone": "Europe/Paris",
        "name": "Monday trades",
    }
    created = world.post(body)
    assert created.status_code == 201, created.text
    schedule = created.json()
    assert created.headers["Location"] == f"/v1/schedules/{schedule['id']}"
    assert schedule["status"] == "active"
    assert schedule["export"]["columns"] == [{"name": "symbol"}, {"name": "pnl", "label": "P&L"}]
    next_run = datetime.fromisoformat(schedule["next_run_at"])
    local = next_run.astimezone(ZoneInfo("Europe/Paris"))
    assert (local.weekday(), local.hour, local.minute) == (0, 6, 0)
    assert timedelta(0) < next_run - world.clock.now() <= timedelta(days=7)
    assert world.call("GET", f"/v1/schedules/{schedule['id']}").json() == schedule
    assert [s["id"] for s in world.call("GET", "/v1/schedules").json()["items"]] == [schedule["id"]]


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"export": TRADES}, 422, "schedule_timing_invalid", "cron"),
        (
            {"export": TRADES, "cron": "0 6 * * 1", "every": "1d"},
            422,
            "schedule_timing_invalid",
            "cron",
        ),
        ({"export": TRADES, "cron": "0 6 * *"}, 422, "cron_invalid", "cron"),
        ({"export": TRADES, "cron": "0 0 31 2 *"}, 422, "cron_invalid", "cron"),
        ({"export": TRADES, "every": "1y"}, 422, "every_invalid", "every"),
        (
            {"export": TRADES, "every": "1d", "timezone": "Mars/Base"},
            422,
            "timezone_unknown",
            "timezone",
        ),
        # The free plan: one run an hour at most (and the server's floor is a minute).
        ({"export": TRADES, "every": "30m"}, 422, "schedule_interval_too_short", "every"),
        ({"export": TRADES, "cron": "*/10 * * * *"}, 422, "schedule_interval_too_short", "cron"),
        (
            {"export": {"source": "resume", "format": "pdf"}, "every": "1d", "skip_if_empty": True},
            422,
            "skip_if_empty_not_applicable",
            "skip_if_empty",
        ),
        ({"export": TRADES, "every": "1d", "when": "now"}, 422, "request_invalid", "body.when"),
    ],
)
def test_refusals_name_their_code_and_field(
    world: World, body: dict[str, Any], status: int, code: str, field: str
) -> None:
    problem = assert_problem(world.post(body), status, code)
    assert field in [e["field"] for e in problem.get("errors") or []], problem


@pytest.mark.parametrize(
    "export",
    [
        {"source": "nope", "format": "csv", "params": {}},
        {"source": "trades", "format": "docx", "params": {}},
        {"source": "trades", "format": "csv", "params": {"limit": 0}},
        {"source": "trades", "format": "csv", "params": {}, "columns": ["nope"]},
        {"source": "trades", "format": "csv", "params": {}, "template": "classic"},
        {"source": "trades", "format": "parquet", "params": {}},  # not in the free plan: 403
        {"source": "trades", "format": "csv", "params": {}, "options": {"timezone": "Mars/Base"}},
        {"source": "trades", "format": "json", "params": {}, "options": {"delimiter": ";"}},
        {"source": "trades", "format": "csv", "params": {}, "notify": {"email": "x@y.z"}},
        {"source": "trades", "params": {}},
        {"source": "resume", "format": "pdf", "params": {}},  # no document yet
        {"source": "trades", "format": "csv", "params": {}, "destinations": ["nope"]},
    ],
)
def test_a_bad_export_body_gets_the_code_post_exports_gives(
    world: World, export: dict[str, Any]
) -> None:
    direct = world.api.create("alice", export)
    scheduled = world.post({"export": export, "every": "1d"})
    assert direct.status_code >= 400, direct.text
    assert (scheduled.status_code, scheduled.json()["code"]) == (
        direct.status_code,
        direct.json()["code"],
    )
    fields = [e["field"] for e in scheduled.json().get("errors") or []]
    assert all(f.startswith(("export.", "body.export")) for f in fields), fields


def test_the_plan_limits_how_many_schedules_an_owner_keeps(world: World) -> None:
    with world.db.write() as conn:
        conn.execute(
            update(plan_limits).where(plan_limits.c.name == "free").values(max_schedules=2)
        )
    assert world.post({**HOURLY, "name": "one"}).status_code == 201
    assert world.post({**HOURLY, "name": "two"}).status_code == 201
    assert_problem(world.post({**HOURLY, "name": "three"}), 422, "schedule_limit_reached")
    assert world.post(HOURLY, user="bob").status_code == 201  # bob counts his own
    usage = world.call("GET", "/v1/me/usage").json()
    assert usage["limits"]["max_schedules"] == 2
    assert usage["limits"]["min_schedule_interval_s"] == 3600


def test_the_server_floor_applies_even_when_the_plan_allows_less(world: World) -> None:
    with world.db.write() as conn:
        conn.execute(
            update(plan_limits).where(plan_limits.c.name == "pro").values(min_schedule_interval_s=1)
        )
    pro = {"plan": "pro"}
    assert world.post({"export": TRADES, "every": "2m"}, **pro).status_code == 201
    assert_problem(
        world.post({"export": TRADES, "every": "30s"}, **pro), 422, "schedule_interval_too_short"
    )


def test_another_users_schedule_is_not_found_admins_included(world: World) -> None:
    schedule = world.post(HOURLY).json()
    path = f"/v1/schedules/{schedule['id']}"
    for user, kw in (("bob", {}), ("root", {"admin": True})):
        headers = world.api.as_user(user, **kw)
        for method, url, body in (
            ("GET", path, None),
            ("PATCH", path, {"active": False}),
            ("DELETE", path, None),
            ("POST", f"{path}/run", None),
        ):
            answer = world.api.client.request(method, url, json=body, headers=headers)
            assert_problem(answer, 404, "schedule_not_found")
        assert world.api.client.get("/v1/schedules", headers=headers).json() == {"items": []}
    assert world.call("GET", path).json()["active"] is True


# -- the tick -----------------------------------------------------------------------------


def test_the_tick_runs_each_due_time_once_as_an_export_with_its_schedule(world: World) -> None:
    schedule = world.post(HOURLY).json()
    assert world.ticker.tick() == []  # not due yet
    world.clock.advance(3600)
    [started] = world.ticker.tick()
    assert started.export_id is not None
    assert world.ticker.tick() == []  # the same due time again: nothing
    [export] = world.runs_of(schedule["id"])
    assert export["schedule_id"] == schedule["id"]
    assert export["correlation_id"] == f"schedule:{schedule['id']}"
    again = world.call("GET", f"/v1/schedules/{schedule['id']}").json()
    assert again["last_export_id"] == export["id"]
    assert datetime.fromisoformat(again["next_run_at"]) == world.clock.now() + timedelta(hours=1)


def test_an_outage_makes_one_catch_up_run(world: World) -> None:
    schedule = world.post(HOURLY).json()
    world.clock.advance(5 * 3600 + 600)  # five due times passed while no worker ran
    [started] = world.ticker.tick()
    assert started.missed == 4
    assert started.due_at == datetime.fromisoformat(schedule["created_at"]) + timedelta(hours=5)
    assert world.ticker.tick() == []
    assert len(world.runs_of(schedule["id"])) == 1
    with world.db.read() as conn:
        missed = conn.execute(select(schedule_runs.c.missed)).scalars().all()
    assert missed == [4]


def test_a_due_time_already_run_is_never_run_again(world: World) -> None:
    """As if a node's write of the next due time were lost: the unique (schedule_id,
    due_at) row still stops a second export for that due time."""
    schedule = world.post(HOURLY).json()
    world.clock.advance(3600)
    [first] = world.ticker.tick()
    with world.db.write() as conn:
        conn.execute(
            update(schedules)
            .where(schedules.c.id == schedule["id"])
            .values(next_due_at=first.due_at)
        )
    assert world.ticker.tick() == []
    assert len(world.runs_of(schedule["id"])) == 1
    with world.db.write() as conn:
        now = world.clock.now()
        assert not runs.claim(conn, schedule["id"], first.due_at, missed=0, now=now)
    with pytest.raises(IntegrityError), world.db.write() as conn:
        conn.execute(
            schedule_runs.insert().values(
                schedule_id=schedule["id"], due_at=first.due_at, outcome="queued", created_at=now
            )
        )


def test_failures_in_a_row_pause_the_schedule_and_say_so(world: World) -> None:
    schedule = world.post(HOURLY).json()
    for n in (1, 2):
        world.clock.advance(3600)
        world.ticker.tick()
        world.settle(error="source_query_failed")
        assert world.schedule_row(schedule["id"]).consecutive_failures == n
    # A success resets the count...
    world.clock.advance(3600)
    world.ticker.tick()
    world.settle(
        result={
            "key": "k",
            "filename": "f.csv",
            "content_type": "text/csv",
            "size": 1,
            "sha256": "x",
            "row_count": 1,
        }
    )
    assert world.schedule_row(schedule["id"]).consecutive_failures == 0
    # ...and three failures in a row (EXPORTD_SCHEDULE_MAX_FAILURES here) pause it.
    for _ in range(3):
        world.clock.advance(3600)
        world.ticker.tick()
        world.settle(error="source_query_failed")
    paused = world.call("GET", f"/v1/schedules/{schedule['id']}").json()
    assert (paused["status"], paused["paused_reason"]) == ("paused", "failures")
    assert paused["next_run_at"] is None
    assert paused["last_error"]["code"] == "source_query_failed"
    with world.db.read() as conn:
        event = conn.execute(
            select(export_events).where(export_events.c.kind == "schedule_paused")
        ).one()
    assert event.detail["schedule_id"] == schedule["id"]
    assert event.owner_id == "alice"
    world.clock.advance(3600)
    assert world.ticker.tick() == []  # paused: no run
    # Resuming starts afresh: no catch-up for the pause, the count reset.
    resumed = world.call("PATCH", f"/v1/schedules/{schedule['id']}", json={"active": True}).json()
    assert (resumed["status"], resumed["consecutive_failures"]) == ("active", 0)
    assert datetime.fromisoformat(resumed["next_run_at"]) > world.clock.now()


def test_an_export_of_no_schedule_settles_without_reading_for_one(world: World) -> None:
    """The schedules' hook learns from the export the settle already read that there is
    no schedule to count for: no statement of its own (one round trip an export)."""
    schedule = world.post(HOURLY).json()
    created = world.call("POST", "/v1/exports", json=TRADES)
    assert created.status_code == 202, created.text
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(world.db.engine, "before_cursor_execute", record)
    try:
        world.settle(error="source_query_failed")
    finally:
        event.remove(world.db.engine, "before_cursor_execute", record)
    assert any("UPDATE exports" in s for s in statements)  # the outcome was recorded
    outcome_read = "SELECT exports.schedule_id, exports.status, exports.error \nFROM exports"
    assert not any(s.startswith(outcome_read) for s in statements), statements
    assert world.schedule_row(schedule["id"]).consecutive_failures == 0
    # A schedule's run still counts (the hook reads then).
    world.clock.advance(3600)
    world.ticker.tick()
    world.settle(error="source_query_failed")
    assert world.schedule_row(schedule["id"]).consecutive_failures == 1


def test_a_refused_run_counts_as_a_failure_with_its_code(world: World) -> None:
    schedule = world.post(HOURLY).json()
    with world.db.write() as conn:
        conn.execute(
            update(plan_limits).where(plan_limits.c.name == "free").values(formats_allowed=["json"])
        )
    world.clock.advance(3600)
    [started] = world.ticker.tick()
    assert (started.export_id, started.refused) == (None, "format_not_in_plan")
    row = world.schedule_row(schedule["id"])
    assert (row.consecutive_failures, row.last_error["code"]) == (1, "format_not_in_plan")
    with world.db.read() as conn:
        run = conn.execute(select(schedule_runs)).one()
        kinds = conn.execute(select(export_events.c.kind)).scalars().all()
    assert (run.outcome, run.error["code"]) == ("refused", "format_not_in_plan")
    assert "schedule_refused" in kinds
    assert world.runs_of(schedule["id"]) == []


def test_one_broken_schedule_does_not_stop_the_others(world: World) -> None:
    broken = world.post({**HOURLY, "name": "broken"}).json()
    fine = world.post({**HOURLY, "name": "fine"}).json()
    with world.db.write() as conn:  # a request no ExportRequest can be made from
        conn.execute(
            update(schedules).where(schedules.c.id == broken["id"]).values(request={"x": 1})
        )
    world.clock.advance(3600)
    assert [s.schedule_id for s in world.ticker.tick()] == [fine["id"]]
    assert world.runs_of(broken["id"]) == []
    assert len(world.runs_of(fine["id"])) == 1


# -- change, run now, delete ---------------------------------------------------------------


def test_pause_run_now_change_and_delete(world: World) -> None:
    schedule = world.post(HOURLY).json()
    path = f"/v1/schedules/{schedule['id']}"
    paused = world.call("PATCH", path, json={"active": False}).json()
    assert (paused["status"], paused["paused_reason"], paused["next_run_at"]) == (
        "paused",
        "owner",
        None,
    )
    world.clock.advance(7200)
    assert world.ticker.tick() == []
    ran = world.call("POST", f"{path}/run")  # paused or not
    assert ran.status_code == 202, ran.text
    assert ran.json()["schedule_id"] == schedule["id"]
    assert ran.json()["status"] == "queued"
    changed = world.call(
        "PATCH", path, json={"cron": "0 7 * * *", "timezone": "America/New_York", "active": True}
    ).json()
    assert (changed["cron"], changed["every"], changed["status"]) == ("0 7 * * *", None, "active")
    next_run = datetime.fromisoformat(changed["next_run_at"])
    assert next_run.astimezone(ZoneInfo("America/New_York")).hour == 7
    assert_problem(
        world.call("PATCH", path, json={"every": "10m"}), 422, "schedule_interval_too_short"
    )
    assert_problem(world.call("PATCH", path, json={"cron": None}), 422, "schedule_timing_invalid")
    bad = world.call("PATCH", path, json={"export": {**TRADES, "source": "nope"}})
    assert assert_problem(bad, 422, "source_unknown")["errors"][0]["field"] == "export.source"
    assert world.call("DELETE", path).status_code == 204
    assert_problem(world.call("GET", path), 404, "schedule_not_found")
    assert [e["schedule_id"] for e in world.runs_of(schedule["id"])] == [schedule["id"]]


def test_run_now_refusals_are_the_callers_answer(world: World) -> None:
    schedule = world.post(HOURLY).json()
    with world.db.write() as conn:
        conn.execute(
            update(plan_limits).where(plan_limits.c.name == "free").values(max_active_jobs=1)
        )
    assert world.call("POST", f"/v1/schedules/{schedule['id']}/run").status_code == 202
    refused = world.call("POST", f"/v1/schedules/{schedule['id']}/run")
    assert_problem(refused, 429, "active_exports_limit")
    assert world.schedule_row(schedule["id"]).consecutive_failures == 0


# -- skip_if_empty, through the real export task ------------------------------------------


class Context:
    job_id = 1
    attempt = 1
    correlation_id = None
    cancel_requested = False
    claim_note = None  # the child reads its export itself

    def checkpoint(self, **_progress: Any) -> None:
        pass


def test_skip_if_empty_ends_skipped_with_no_file_and_no_notice(
    world: World, tmp_path: Path
) -> None:
    with world.db.write() as conn:
        create_demo_tables(conn)
        seed_trades(conn, "alice", 20)
    hooks = {"webhook_url": "https://hooks.example.com/exportd"}
    for symbol, skip in (("NOPE", True), ("NOPE", False)):
        body = {
            "export": {**TRADES, "params": {"symbol": symbol}, "notify": hooks},
            "every": "1d",
            "skip_if_empty": skip,
        }
        schedule = world.post(body).json()
        ran = world.call("POST", f"/v1/schedules/{schedule['id']}/run").json()
        service = world.api.client.app.state.exports  # type: ignore[attr-defined]
        with world.db.write() as conn:
            [job] = service.store.claim(conn, worker_id="w", queues=["default"], limit=1)
        task.use_settings(world.settings)
        runtime = task.runtime()  # the child's, built here: its connections closed after
        try:
            result = task.run_export(Context(), job.payload)  # type: ignore[arg-type]
        finally:
            runtime.db.dispose()
            runtime.connections.dispose()
            task.runtime.cache_clear()
        with world.db.write() as conn:
            settled = service.store.settle(
                conn, Outcome(claim=Claimed(job.id, job.attempt), result=result)
            )
            hook = worker_app().tasks.get(EXPORT_TASK).on_settled
            assert hook is not None
            hook(conn, settled, WorkerContext(world.settings, world.db, service.store))
        export = world.call("GET", f"/v1/exports/{ran['id']}").json()
        with world.db.read() as conn:
            notices = conn.execute(
                select(func.count()).where(deliveries.c.export_id == ran["id"])
            ).scalar_one()
        if skip:
            assert (export["status"], export["result"], notices) == ("skipped", None, 0)
            assert export["links"]["download"] is None
            listed = world.call("GET", "/v1/exports", params={"status": "skipped"}).json()
            assert [e["id"] for e in listed["items"]] == [ran["id"]]
        else:  # without it, an empty file is made and announced as ever
            assert (export["status"], export["result"]["row_count"], notices) == ("completed", 0, 1)
    assert not list((tmp_path / "files").rglob("*skipped*"))
    with world.db.read() as conn:
        kinds = conn.execute(select(export_events.c.kind)).scalars().all()
    assert kinds.count("skipped") == 1
    completed = world.call("GET", "/v1/exports", params={"status": "completed"}).json()
    assert len(completed["items"]) == 1

"""The page's schedules through the real app, on SQLite and PostgreSQL: "Repeat it" on the
create form makes one, the panel pauses, resumes, runs and deletes it, refusals are
notices, another user's schedule is not found, and a skipped export reads as such."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from exportd.config import Settings
from exportd.db import Database
from exportd.db.tables import exports
from tests.integration.test_web_routes import notice_of, sign_in
from tests.support.artifacts import World, world_for

FORM = {"source": "trades", "format": "csv", "p.symbol": "AAPL", "col": ["symbol", "pnl"]}


@pytest.fixture
def world(settings: Settings, db: Database, tmp_path: Path) -> Iterator[World]:
    with world_for(settings, db, tmp_path) as w:
        yield w


def schedules_of(world: World, user: str = "alice") -> list[dict]:
    answer = world.api.client.get("/v1/schedules", headers=world.api.as_user(user))
    return answer.json()["items"]


def test_repeat_it_makes_a_schedule_the_panel_steers(world: World) -> None:
    csrf = sign_in(world)
    headers = {"X-CSRF-Token": csrf}
    form = {
        **FORM,
        "repeat_cron": "0 6 * * 1",
        "repeat_timezone": "Europe/Paris",
        "skip_if_empty": "true",
    }
    made = world.api.client.post("/exports/schedules/new", data=form, headers=headers)
    assert made.status_code == 200, made.text
    assert 'id="schedules"' in made.text
    assert "0 6 * * 1 (Europe/Paris)" in made.text
    assert "skips empty runs" in made.text
    [schedule] = schedules_of(world)
    assert (schedule["cron"], schedule["skip_if_empty"]) == ("0 6 * * 1", True)
    assert schedule["export"]["params"]["symbol"] == "AAPL"
    assert "0 6 * * 1 (Europe/Paris)" in world.api.client.get("/exports").text

    base = f"/exports/schedules/{schedule['id']}"
    paused = world.api.client.post(f"{base}/pause", headers=headers)
    assert re.search(r'data-status="paused"', paused.text)
    assert "Resume" in paused.text
    ran = world.api.client.post(f"{base}/run", headers=headers)
    assert "Queued trades as CSV." in ran.text
    runs = world.api.client.get(
        "/v1/exports", params={"schedule_id": schedule["id"]}, headers=world.api.as_user("alice")
    ).json()["items"]
    assert len(runs) == 1
    resumed = world.api.client.post(f"{base}/resume", headers=headers)
    assert re.search(r'data-status="active"', resumed.text)
    gone = world.api.client.post(f"{base}/delete", headers=headers)
    assert "No schedules yet" in gone.text
    assert schedules_of(world) == []


def test_refusals_are_notices_and_others_schedules_are_not_found(world: World) -> None:
    csrf = sign_in(world)
    headers = {"X-CSRF-Token": csrf}
    refused = world.api.client.post(
        "/exports/schedules/new", data={**FORM, "repeat_cron": "every monday"}, headers=headers
    )
    assert notice_of(refused.text)[1] == "cron_invalid"
    too_often = world.api.client.post(
        "/exports/schedules/new",
        data={**FORM, "repeat_every": "1h", "repeat_cron": "*/5 * * * *"},
        headers=headers,
    )
    assert notice_of(too_often.text)[1] == "schedule_interval_too_short"
    without_csrf = world.api.client.post(
        "/exports/schedules/new", data={**FORM, "repeat_every": "1d"}
    )
    assert notice_of(without_csrf.text)[1] == "csrf_failed"
    assert schedules_of(world) == []
    body = {"export": {"source": "trades", "format": "csv", "params": {}}, "every": "1d"}
    bobs = world.api.client.post(
        "/v1/schedules", json=body, headers=world.api.as_user("bob")
    ).json()
    stolen = world.api.client.post(f"/exports/schedules/{bobs['id']}/run", headers=headers)
    assert notice_of(stolen.text)[1] == "schedule_not_found"


def test_a_skipped_export_reads_as_skipped(world: World) -> None:
    sign_in(world)
    body = {
        "export": {"source": "trades", "format": "csv", "params": {}},
        "every": "1d",
        "skip_if_empty": True,
    }
    schedule = world.api.client.post(
        "/v1/schedules", json=body, headers=world.api.as_user("alice")
    ).json()
    ran = world.api.client.post(
        f"/v1/schedules/{schedule['id']}/run", headers=world.api.as_user("alice")
    )
    with world.db.write() as conn:  # as the settle hook records a run of no rows
        conn.execute(
            update(exports)
            .where(exports.c.id == ran.json()["id"])
            .values(status="completed", skipped=True, job_id=None)
        )
    page = world.api.client.get("/exports").text
    assert 'data-status="skipped"' in page
    assert "No rows this time" in page

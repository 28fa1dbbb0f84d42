"""The console page's routes on SQLite and PostgreSQL (the browser test is
tests/e2e/test_console_page.py): who may see it, its CSRF check, and a bulk action that
takes every match and comes back to the same search."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from exportd.config import Settings
from exportd.db import Database
from tests.integration.test_console import admin_events, failed_exports
from tests.integration.test_web_routes import sign_in
from tests.support.artifacts import World, world_for


@pytest.fixture
def world(settings: Settings, db: Database, tmp_path: Path) -> Iterator[World]:
    with world_for(settings, db, tmp_path, job_attempts=1) as w:
        yield w


def test_nobody_signed_in_is_sent_to_sign_in(world: World) -> None:
    answer = world.api.client.get("/exports/admin", follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/exports")


def test_a_user_who_is_not_an_admin_gets_403(world: World) -> None:
    csrf = sign_in(world, "alice")
    failed_exports(world, "alice", 1)
    answer = world.api.client.get("/exports/admin")
    assert answer.status_code == 403
    assert 'data-code="admin_required"' in answer.text
    acted = world.api.client.post(
        "/exports/admin/dead-letters", data={"csrf": csrf, "kind": "exports", "action": "cancel"}
    )
    assert acted.status_code == 403
    assert admin_events(world.db) == []


def test_an_admin_sees_the_console_and_retries_all_that_match(world: World) -> None:
    csrf = sign_in(world, "root", admin=True)
    failed_exports(world, "alice", 3)
    failed_exports(world, "bob", 2)
    page = world.api.client.get("/exports/admin", params={"owner": "alice"})
    assert page.status_code == 200
    assert re.search(r"<strong>3</strong> exports match", page.text)
    assert "Retry all 3" in page.text
    assert page.text.count('role="img"') == 3  # the day's three charts, drawn on the server
    stale = world.api.client.post(
        "/exports/admin/dead-letters",
        data={"csrf": "0" * 40, "kind": "exports", "action": "retry", "owner": "alice"},
    )
    assert stale.status_code == 403
    assert 'data-code="csrf_failed"' in stale.text
    done = world.api.client.post(
        "/exports/admin/dead-letters",
        data={"csrf": csrf, "kind": "exports", "action": "retry", "owner": "alice", "code": ""},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"].startswith("/exports/admin?kind=exports&owner=alice&done=retry")
    after = world.api.client.get(done.headers["location"])
    assert "Retried 3 exports." in after.text
    assert re.search(r"<strong>0</strong> exports match", after.text)
    [event] = admin_events(world.db)
    assert (event.detail["by"], event.detail["count"]) == ("root", 3)
    assert "root retried 3 dead exports" in after.text  # the operators' actions list


def test_a_bad_time_in_the_search_is_a_notice_not_an_error(world: World) -> None:
    sign_in(world, "root", admin=True)
    page = world.api.client.get(
        "/exports/admin", params={"since": "2026-05-02T00:00", "until": "2026-05-01T00:00"}
    )
    assert page.status_code == 200
    assert 'data-code="filter_range_invalid"' in page.text


def test_an_admin_pauses_and_resumes_a_queue_from_the_console(world: World) -> None:
    csrf = sign_in(world, "root", admin=True)
    page = world.api.client.get("/exports/admin")
    assert 'action="/exports/admin/queues/default/pause"' in page.text
    stale = world.api.client.post("/exports/admin/queues/default/pause", data={"csrf": "0" * 40})
    assert stale.status_code == 403
    assert not world.api.client.app.state.queues.get("default").paused
    done = world.api.client.post(
        "/exports/admin/queues/default/pause", data={"csrf": csrf}, follow_redirects=False
    )
    assert (done.status_code, done.headers["location"]) == (303, "/exports/admin#queues")
    state = world.api.client.app.state.queues.get("default")
    assert (state.paused, state.paused_by) == (True, "root")
    page = world.api.client.get("/exports/admin")
    assert "<strong>Paused</strong> by root" in page.text
    assert 'action="/exports/admin/queues/default/resume"' in page.text
    assert "paused the queue default" in page.text  # the operators' actions list
    unknown = world.api.client.post("/exports/admin/queues/nowhere/pause", data={"csrf": csrf})
    assert unknown.status_code == 404
    assert 'data-code="queue_unknown"' in unknown.text
    world.api.client.post("/exports/admin/queues/default/resume", data={"csrf": csrf})
    assert not world.api.client.app.state.queues.get("default").paused


def test_a_user_who_is_not_an_admin_cannot_pause_a_queue(world: World) -> None:
    csrf = sign_in(world, "alice")
    answer = world.api.client.post("/exports/admin/queues/default/pause", data={"csrf": csrf})
    assert answer.status_code == 403
    assert not world.api.client.app.state.queues.get("default").paused

"""The /exports page's routes through the real app, on SQLite and PostgreSQL: sessions,
CSRF, ownership and errors as page notices.  (The browser tests drive the same page.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from exportd.config import Settings
from exportd.db import Database
from exportd.db.tables import exports
from exportd.web.session import COOKIE
from tests.support.artifacts import World, completed_export, world_for


@pytest.fixture
def world(settings: Settings, db: Database, tmp_path: Path) -> Iterator[World]:
    with world_for(settings, db, tmp_path) as w:
        yield w


def sign_in(world: World, user: str = "alice", **kw: object) -> str:
    """Sign in through the form; the page's CSRF token."""
    client = world.api.client
    client.cookies.clear()
    response = client.post(
        "/exports/sign-in", data={"token": world.api.token(user, **kw)}, follow_redirects=False
    )
    assert response.status_code == 303
    page = client.get("/exports")
    assert page.status_code == 200
    found = re.search(r'"X-CSRF-Token": "([0-9a-f]+)"', page.text)
    assert found
    return found.group(1)


def count_exports(world: World) -> int:
    with world.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(exports)).scalar_one())


def test_without_a_session_the_page_asks_for_a_token(world: World) -> None:
    page = world.api.client.get("/exports")
    assert page.status_code == 200
    assert 'name="token"' in page.text
    assert "Sign in as alice" not in page.text  # demo sign-in is off unless asked for
    assert world.api.client.get("/", follow_redirects=False).headers["location"] == "/exports"


def test_a_bad_token_is_refused_with_its_reason_and_no_cookie(world: World) -> None:
    response = world.api.client.post("/exports/sign-in", data={"token": "not-a-jwt"})
    assert response.status_code == 401
    assert "token_malformed" in response.text
    assert COOKIE not in response.cookies


def test_the_session_cookie_is_http_only_and_scoped_to_the_page(world: World) -> None:
    response = world.api.client.post(
        "/exports/sign-in", data={"token": world.api.token("alice")}, follow_redirects=False
    )
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/exports" in cookie


def test_creating_needs_the_csrf_token(world: World) -> None:
    sign_in(world)
    form = {"source": "trades", "format": "csv", "idempotency_key": "k1"}
    refused = world.api.client.post("/exports/new", data=form)
    assert "csrf_failed" in refused.text
    assert refused.headers["HX-Retarget"] == "#notice"
    assert count_exports(world) == 0


def test_a_form_creates_one_export_however_often_it_is_sent(world: World) -> None:
    csrf = sign_in(world)
    form = {
        "source": "trades",
        "format": "csv",
        "p.symbol": "AAPL",
        "col": ["symbol", "pnl"],
        "label.pnl": "P&L",
        "idempotency_key": "same-click",
    }
    headers = {"X-CSRF-Token": csrf}
    first = world.api.client.post("/exports/new", data=form, headers=headers)
    again = world.api.client.post("/exports/new", data=form, headers=headers)
    assert first.status_code == again.status_code == 200
    assert 'class="export status-queued"' in first.text
    assert 'id="idempotency-key"' in first.text  # a fresh key for the next export
    assert count_exports(world) == 1
    export = world.api.client.get("/v1/exports", headers=world.api.as_user("alice")).json()[
        "items"
    ][0]
    assert export["params"]["symbol"] == "AAPL"
    assert export["columns"] == [
        {"name": "symbol", "label": "symbol"},
        {"name": "pnl", "label": "P&L"},
    ]


def test_a_refused_form_is_a_notice_naming_the_problem(world: World) -> None:
    csrf = sign_in(world)
    headers = {"X-CSRF-Token": csrf}
    bad_zone = world.api.client.post(
        "/exports/new",
        data={"source": "trades", "format": "csv", "timezone": "Mars/Olympus"},
        headers=headers,
    )
    assert "options.timezone" in bad_zone.text
    not_in_plan = world.api.client.post(
        "/exports/new",
        data={"source": "trades", "format": "parquet", "col": "symbol"},
        headers=headers,
    )
    assert "format_not_in_plan" in not_in_plan.text
    no_columns = world.api.client.post(
        "/exports/new", data={"source": "trades", "format": "csv"}, headers=headers
    )
    assert "choose at least one column" in no_columns.text
    assert count_exports(world) == 0


def test_another_users_export_is_not_found_from_the_page(world: World) -> None:
    export_id = completed_export(world, owner="alice")
    csrf = sign_in(world, "mallory")
    headers = {"X-CSRF-Token": csrf}
    for action in ("cancel", "retry", "delete", "again"):
        response = world.api.client.post(f"/exports/{export_id}/{action}", headers=headers)
        assert "export_not_found" in response.text, action
    download = world.api.client.get(f"/exports/{export_id}/download", follow_redirects=False)
    assert download.status_code == 404
    assert (
        world.api.client.get(f"/v1/exports/{export_id}", headers=world.api.as_user("alice")).json()[
            "status"
        ]
        == "completed"
    )


def test_download_follows_a_fresh_one_time_link(world: World) -> None:
    export_id = completed_export(world, owner="alice")
    sign_in(world)
    response = world.api.client.get(f"/exports/{export_id}/download", follow_redirects=False)
    assert response.status_code == 303
    link = response.headers["location"]
    assert link.startswith("/v1/downloads/")
    assert world.api.client.get(link).status_code == 200
    assert world.api.client.get(link).status_code == 410  # spent


def test_delete_removes_a_finished_export_and_its_row(world: World) -> None:
    export_id = completed_export(world, owner="alice")
    csrf = sign_in(world)
    response = world.api.client.post(f"/exports/{export_id}/delete", headers={"X-CSRF-Token": csrf})
    assert f"export-{export_id}" not in response.text
    assert 'id="usage"' in response.text  # the storage meter follows
    gone = world.api.client.get(f"/v1/exports/{export_id}", headers=world.api.as_user("alice"))
    assert gone.status_code == 404


def test_htmx_requests_without_a_session_are_sent_to_sign_in(world: World) -> None:
    response = world.api.client.post("/exports/x/cancel", headers={"HX-Request": "true"})
    assert (response.status_code, response.headers["HX-Redirect"]) == (204, "/exports")
    stream = world.api.client.get("/exports/live", headers={"Accept": "text/event-stream"})
    assert stream.status_code == 204  # an EventSource stops reconnecting


def test_demo_sign_in_only_when_enabled(
    world: World, settings: Settings, db: Database, tmp_path: Path
) -> None:
    refused = world.api.client.post("/exports/sign-in/demo", data={"user": "alice"})
    assert refused.status_code == 403
    with world_for(settings, db, tmp_path / "demo", page_sign_in_demo=True) as demo:
        page = demo.api.client.get("/exports")
        assert "Sign in as alice" in page.text
        signed = demo.api.client.post(
            "/exports/sign-in/demo", data={"user": "bob"}, follow_redirects=False
        )
        assert signed.status_code == 303
        assert "bob" in demo.api.client.get("/exports").text
        unknown = demo.api.client.post("/exports/sign-in/demo", data={"user": "root"})
        assert unknown.status_code == 403


def test_sign_out_needs_the_pages_token(world: World) -> None:
    csrf = sign_in(world)
    world.api.client.post("/exports/sign-out", data={"csrf": "forged"})
    assert 'name="token"' not in world.api.client.get("/exports").text  # still signed in
    world.api.client.post("/exports/sign-out", data={"csrf": csrf})
    assert 'name="token"' in world.api.client.get("/exports").text

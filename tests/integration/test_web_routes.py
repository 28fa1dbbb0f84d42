"""The /exports page's routes through the real app, on SQLite and PostgreSQL: sessions,
CSRF, ownership and errors as page notices.  (The browser tests drive the same page.)"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest
from sqlalchemy import func, select

from exportd.config import Settings
from exportd.db import Database
from exportd.db.tables import exports, page_sessions
from exportd.demo.resumes import RESUMES
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


NOTICE = re.compile(
    r'<p class="notice error"[^>]*data-code="([a-z_]+)"[^>]*><span class="notice-text">([^<]*)'
    r'</span>\s*<small class="code muted">code: <code>([a-z_]+)</code>'
)


def notice_of(html: str) -> tuple[str, str]:
    """A notice's words and its code: in ``data-code`` and small print, never the words."""
    found = NOTICE.search(html)
    assert found, html
    code, words, small = found.groups()
    assert small == code
    assert code not in words
    return unescape(words), code


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
    assert export["columns"] == [{"name": "symbol"}, {"name": "pnl", "label": "P&L"}]


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
    assert notice_of(not_in_plan.text) == (
        "The free plan does not include parquet exports.",
        "format_not_in_plan",
    )
    no_columns = world.api.client.post(
        "/exports/new", data={"source": "trades", "format": "csv"}, headers=headers
    )
    assert "Choose at least one column" in no_columns.text
    for digits in ("²", "1¹", "①", "١٢"):  # int("²") raised: a 500 that reset the connection
        odd = world.api.client.post(
            "/exports/new",
            data={"source": "trades", "format": "csv", "col": "symbol", "p.limit": digits},
            headers=headers,
        )
        assert odd.status_code == 200, digits
        assert "params.limit" in odd.text, digits
    assert count_exports(world) == 0


def test_cancel_on_an_export_that_completed_meanwhile_keeps_it(world: World) -> None:
    export_id = completed_export(world, owner="alice")
    csrf = sign_in(world, "alice")
    response = world.api.client.post(
        f"/exports/{export_id}/cancel", headers={"X-CSRF-Token": csrf, "HX-Request": "true"}
    )
    # The card itself says what happened (not a notice far above it).
    assert "HX-Retarget" not in response.headers
    assert f'id="export-{export_id}"' in response.text
    assert '<p class="flash" role="status">Already finished, nothing to cancel.</p>' in (
        response.text
    )
    kept = world.api.client.get(f"/v1/exports/{export_id}", headers=world.api.as_user("alice"))
    assert kept.json()["status"] == "completed"
    assert world.api.client.get(f"/exports/{export_id}/download").status_code == 200


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
    # The test client's host is testserver: this server's public name here.
    demo_settings = {"page_sign_in_demo": True, "public_url": "http://testserver"}
    with world_for(settings, db, tmp_path / "demo", **demo_settings) as demo:
        page = demo.api.client.get("/exports")
        assert "Sign in as alice" in page.text
        signed = demo.api.client.post(
            "/exports/sign-in/demo", data={"user": "bob"}, follow_redirects=False
        )
        assert signed.status_code == 303
        assert "bob" in demo.api.client.get("/exports").text
        unknown = demo.api.client.post("/exports/sign-in/demo", data={"user": "root"})
        assert unknown.status_code == 403


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost", "[::1]:8000", "testserver"])
def test_demo_sign_in_answers_the_servers_own_names(
    settings: Settings, db: Database, tmp_path: Path, host: str
) -> None:
    demo_settings = {"page_sign_in_demo": True, "public_url": "http://testserver"}
    with world_for(settings, db, tmp_path, **demo_settings) as demo:
        signed = demo.api.client.post(
            "/exports/sign-in/demo",
            data={"user": "bob"},
            headers={"Host": host},
            follow_redirects=False,
        )
        assert signed.status_code == 303


def test_demo_sign_in_refuses_a_rebound_dns_name(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    # evil.example resolved to 127.0.0.1: the browser's request is same-origin for it.
    rebound = {"Host": "evil.example:8000", "Origin": "http://evil.example:8000"}
    with world_for(settings, db, tmp_path, page_sign_in_demo=True) as demo:
        response = demo.api.client.post(
            "/exports/sign-in/demo", data={"user": "admin"}, headers=rebound
        )
        assert response.status_code == 403
        assert "host_refused" in response.text
        assert "set-cookie" not in response.headers
        assert session_rows(demo) == 0


def test_sign_out_needs_the_pages_token(world: World) -> None:
    csrf = sign_in(world)
    world.api.client.post("/exports/sign-out", data={"csrf": "forged"})
    assert 'name="token"' not in world.api.client.get("/exports").text  # still signed in
    world.api.client.post("/exports/sign-out", data={"csrf": csrf})
    assert 'name="token"' in world.api.client.get("/exports").text


# -- signing in only from the page itself (login CSRF) ------------------------------------

CROSS_SITE = [
    {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    {"Origin": "https://shop.testserver", "Sec-Fetch-Site": "same-site"},  # a sibling host
    {"Origin": "https://evil.example"},  # a browser without Sec-Fetch-Site
    {"Origin": "null"},  # a sandboxed frame or a redirect from elsewhere
    {"Referer": "https://evil.example/login.html"},
]


def session_rows(world: World) -> int:
    with world.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(page_sessions)).scalar_one())


@pytest.mark.parametrize("headers", CROSS_SITE, ids=lambda h: "+".join(h.values()))
def test_a_cross_site_sign_in_is_refused_and_sets_no_cookie(
    world: World, headers: dict[str, str]
) -> None:
    client = world.api.client
    form = {"token": world.api.token("attacker")}
    response = client.post("/exports/sign-in", data=form, headers=headers, follow_redirects=False)
    assert response.status_code == 403
    assert "csrf_failed" in response.text
    assert "set-cookie" not in response.headers
    assert session_rows(world) == 0
    assert 'name="token"' in client.get("/exports").text  # nobody signed in


def test_a_cross_site_sign_in_leaves_the_visitors_own_session(world: World) -> None:
    sign_in(world, "alice")
    attack = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    form = {"token": world.api.token("attacker")}
    refused = world.api.client.post("/exports/sign-in", data=form, headers=attack)
    assert refused.status_code == 403
    assert "set-cookie" not in refused.headers
    page = world.api.client.get("/exports")
    assert '<span class="who">alice' in page.text


@pytest.mark.parametrize("headers", CROSS_SITE[:2], ids=["cross-site", "same-site"])
def test_a_cross_site_demo_sign_in_is_refused(
    settings: Settings, db: Database, tmp_path: Path, headers: dict[str, str]
) -> None:
    with world_for(settings, db, tmp_path, page_sign_in_demo=True) as demo:
        response = demo.api.client.post(
            "/exports/sign-in/demo", data={"user": "admin"}, headers=headers
        )
        assert response.status_code == 403
        assert "csrf_failed" in response.text
        assert "set-cookie" not in response.headers
        assert session_rows(demo) == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},  # typed or bookmarked by the user
        {"Origin": "http://testserver"},
        {"Referer": "http://testserver/exports"},
        {},  # no browser: a script with its own token
    ],
    ids=["same-origin", "none", "origin", "referer", "nothing"],
)
def test_the_pages_own_sign_in_passes(world: World, headers: dict[str, str]) -> None:
    form = {"token": world.api.token("alice")}
    response = world.api.client.post(
        "/exports/sign-in", data=form, headers=headers, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.cookies[COOKIE]


# -- a revocable page session ----------------------------------------------------------


def test_the_cookie_holds_a_random_session_id_and_never_the_token(world: World) -> None:
    token = world.api.token("alice")
    response = world.api.client.post(
        "/exports/sign-in", data={"token": token}, follow_redirects=False
    )
    cookie = response.cookies[COOKIE]
    assert cookie != token
    assert token not in response.headers["set-cookie"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", cookie)  # 256 random bits, not a JWT
    with world.db.read() as conn:
        [row] = conn.execute(select(page_sessions)).all()
    assert row.id_hash == hashlib.sha256(cookie.encode()).hexdigest()  # only its hash kept
    assert cookie not in str(row)
    assert token not in str(row)
    assert row.claims["user_id"] == "alice"
    unusable = world.api.client.get("/v1/exports", headers={"Authorization": f"Bearer {cookie}"})
    assert unusable.status_code == 401  # the cookie is no API credential


def test_signing_out_ends_the_session_even_for_a_copied_cookie(world: World) -> None:
    client = world.api.client
    csrf = sign_in(world)
    copied = client.cookies[COOKIE]
    export_id = completed_export(world, owner="alice")
    out = client.post("/exports/sign-out", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert session_rows(world) == 0
    client.cookies.clear()
    client.cookies.set(COOKIE, copied, path="/exports")  # the replayed cookie
    page = client.get("/exports")
    assert page.status_code == 401
    assert 'name="token"' in page.text
    assert "session has ended" in page.text
    client.cookies.set(COOKIE, copied, path="/exports")
    action = client.post(
        f"/exports/{export_id}/delete", headers={"X-CSRF-Token": csrf, "HX-Request": "true"}
    )
    assert (action.status_code, action.headers["HX-Redirect"]) == (204, "/exports")
    download = client.get(f"/exports/{export_id}/download", follow_redirects=False)
    assert (download.status_code, download.headers["location"]) == (303, "/exports")
    stream = client.get("/exports/live", headers={"Accept": "text/event-stream"})
    assert stream.status_code == 204
    owner = world.api.as_user("alice")
    assert client.get(f"/v1/exports/{export_id}", headers=owner).json()["status"] == "completed"


def test_signing_in_again_replaces_the_session(world: World) -> None:
    client = world.api.client
    sign_in(world)
    first = client.cookies[COOKIE]
    client.post("/exports/sign-in", data={"token": world.api.token("alice")})
    second = client.cookies[COOKIE]
    assert second != first  # a fresh id at each sign-in: a planted one is never kept
    assert session_rows(world) == 1
    client.cookies.clear()
    client.cookies.set(COOKIE, first, path="/exports")
    assert client.get("/exports").status_code == 401


@pytest.mark.parametrize(
    ("token_ttl_s", "ends_after_s"), [(300, 300), (86_400, 28_800)], ids=["token", "ttl"]
)
def test_a_session_ends_with_its_token_or_after_the_ttl(
    world: World, token_ttl_s: int, ends_after_s: int
) -> None:
    client = world.api.client
    client.post("/exports/sign-in", data={"token": world.api.token("alice", ttl_s=token_ttl_s)})
    world.clock.advance(ends_after_s - 30)
    assert client.get("/exports").status_code == 200
    world.clock.advance(60)
    page = client.get("/exports")
    assert page.status_code == 401
    assert "session has expired" in page.text


def test_signing_out_ends_an_open_live_stream(world: World) -> None:
    sign_in(world)
    cookie = world.api.client.cookies[COOKIE]
    with world.api.client.stream("GET", "/exports/live") as stream:
        lines = stream.iter_lines()
        assert next(lines).startswith("retry:")
        world.api.client.app.state.page_sessions.close(cookie)  # type: ignore[attr-defined]
        rest = list(lines)  # the stream ends by itself at the next poll
    assert not any(line.startswith("event:") for line in rest)


# -- "Export again" never mixes principals ------------------------------------------------


def test_an_admin_cannot_export_another_users_export_again(world: World) -> None:
    notify = {"webhook_url": "https://hooks.example/alice"}
    body = {"source": "trades", "format": "csv", "params": {}, "notify": notify}
    export_id = world.api.create("alice", body).json()["id"]
    alice = world.api.as_user("alice")
    assert world.api.client.delete(f"/v1/exports/{export_id}", headers=alice).is_success
    csrf = sign_in(world, "admin", admin=True)
    page = world.api.client.get("/exports").text
    assert f"export-{export_id}" in page  # an admin sees it ...
    assert f"/exports/{export_id}/again" not in page  # ... but is not offered a re-run
    refused = world.api.client.post(f"/exports/{export_id}/again", headers={"X-CSRF-Token": csrf})
    assert "export_again_owner_only" in refused.text
    assert refused.headers["HX-Retarget"] == "#notice"
    assert count_exports(world) == 1  # nothing made with the admin's rows for alice's hook
    # The owner still can: the new export is hers, with her own notify target.
    csrf = sign_in(world, "alice")
    again = world.api.client.post(f"/exports/{export_id}/again", headers={"X-CSRF-Token": csrf})
    assert 'class="export status-queued"' in again.text
    with world.db.read() as conn:
        rows = conn.execute(select(exports.c.owner_id, exports.c.notify)).all()
    assert sorted(rows, key=str) == [("alice", notify), ("alice", notify)]


# -- what the page shows (issue 23) -------------------------------------------------------


def test_formats_outside_the_plan_are_shown_disabled_with_the_reason(world: World) -> None:
    sign_in(world, "alice")  # free: no Parquet
    form = world.api.client.get("/exports/form", params={"source": "trades"}).text
    assert '<option value="parquet" disabled>Parquet (not in your plan)</option>' in form
    assert "Parquet is not in your plan (free)." in form
    assert '<option value="csv" selected>CSV</option>' in form
    sign_in(world, "bob", plan="pro")
    form = world.api.client.get("/exports/form", params={"source": "trades"}).text
    assert '<option value="parquet">Parquet</option>' in form
    assert "not in your plan" not in form


def test_cancel_says_on_the_card_what_happened(world: World) -> None:
    export_id = world.api.create("alice").json()["id"]  # queued: no worker runs here
    csrf = sign_in(world, "alice")
    response = world.api.client.post(
        f"/exports/{export_id}/cancel", headers={"X-CSRF-Token": csrf, "HX-Request": "true"}
    )
    assert 'data-status="cancelled"' in response.text
    assert '<p class="flash" role="status">Cancelled.</p>' in response.text
    assert "no file was kept" in response.text
    assert 'id="usage"' in response.text  # one export fewer running


def test_a_card_shows_the_source_title_filters_and_columns(world: World) -> None:
    body = {
        "source": "trades",
        "format": "csv",
        "params": {"symbol": "AAPL", "direction": "long"},
        "columns": [{"name": "symbol"}, {"name": "pnl", "label": "P&L"}],
    }
    export_id = world.api.create("alice", body).json()["id"]
    sign_in(world, "alice")
    page = world.api.client.get("/exports").text
    card = page[page.index(f'id="export-{export_id}"') :]
    card = card[: card.index("</li>\n</ul>") if "</li>\n</ul>" in card else None]
    assert '<span class="export-title">Trades · CSV</span>' in card
    assert "<li>Symbol: AAPL · Direction: long</li>" in card
    assert "<li>2 columns: Symbol, P&amp;L</li>" in card


def test_an_admin_sees_whose_export_each_row_is(world: World) -> None:
    export_id = completed_export(world, owner="alice")
    sign_in(world, "alice")
    assert "owner:" not in world.api.client.get("/exports").text
    sign_in(world, "admin", admin=True)
    page = world.api.client.get("/exports").text
    assert f'id="export-{export_id}"' in page
    assert '<span class="owner">owner: <strong>alice</strong></span>' in page


def test_older_exports_are_reachable_with_the_apis_cursor(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("exportd.web.routes.PAGE_SIZE", 2)
    made = []
    for _ in range(3):
        made.append(completed_export(world, owner="alice"))
        world.clock.advance(1)
    oldest, middle, newest = made
    sign_in(world, "alice")
    page = world.api.client.get("/exports").text
    assert f"export-{newest}" in page
    assert f"export-{middle}" in page
    assert f"export-{oldest}" not in page
    found = re.search(r'href="/exports\?cursor=([^"]+)"', page)
    assert found, "no link to the older exports"
    cursor = found.group(1)
    api = world.api.client.get(
        "/v1/exports", params={"limit": 2}, headers=world.api.as_user("alice")
    ).json()
    assert cursor == api["next_cursor"]  # the API's own cursor
    # htmx fetches the next rows in place, and the link's place empties: nothing older.
    more = world.api.client.get("/exports/older", params={"cursor": cursor}).text
    assert f"export-{oldest}" in more
    assert f"export-{middle}" not in more
    assert '<div id="older" class="older" hx-swap-oob="true">' in more
    assert "Older exports" not in more
    # Without JavaScript the link itself loads the page from there (and no live stream,
    # which would bring the newest rows back on top).
    plain = world.api.client.get(f"/exports?cursor={cursor}").text
    assert f"export-{oldest}" in plain
    assert f"export-{newest}" not in plain
    assert "data-live" not in plain
    assert 'href="/exports">Back to the newest exports' in plain
    mangled = world.api.client.get("/exports?cursor=nope", follow_redirects=False)
    assert (mangled.status_code, mangled.headers["location"]) == (303, "/exports")


def test_the_resume_form_lists_the_default_document_once(world: World) -> None:
    headers = world.api.as_user("alice")
    for title in ("Long resume", "Short resume"):
        made = world.api.client.post(
            "/v1/documents", headers=headers, json={"title": title, "content": RESUMES["alice"]}
        )
        assert made.status_code == 201
    sign_in(world, "alice")
    form = world.api.client.get("/exports/form", params={"source": "resume"}).text
    picker = form[
        form.index('<select id="document"') : form.index("</select>", form.index('id="document"'))
    ]
    options = re.findall(r"<option [^>]*>([^<]*)</option>", picker)
    assert options == ["Long resume (your default)", "Short resume"]  # the first is the default


def test_the_preview_names_the_templates_fonts_as_the_page_serves_them(world: World) -> None:
    made = world.api.client.post(
        "/v1/documents",
        headers=world.api.as_user("alice"),
        json={"title": "CV", "content": RESUMES["alice"]},
    )
    sign_in(world, "alice")
    preview = world.api.client.get(
        f"/exports/documents/{made.json()['id']}/preview", params={"template": "modern"}
    )
    assert "font-src 'self'" in preview.headers["Content-Security-Policy"]
    fonts = re.findall(r'url\("(/exports/templates/modern/fonts/[^"]+)"\)', preview.text)
    assert len(fonts) == 10  # Noto Sans x3, Hebrew x2, Arabic x2, Math, Symbols 2, Emoji
    world.api.client.cookies.clear()  # a sandboxed frame sends no cookie
    # Each served from the shared fonts folder the templates use.
    assert all(world.api.client.get(url).status_code == 200 for url in fonts), fonts
    font = world.api.client.get(fonts[0])
    assert font.headers["content-type"] == "font/ttf"
    assert font.content[:4] == b"\x00\x01\x00\x00"  # a TrueType font
    assert font.headers["Access-Control-Allow-Origin"] == "*"  # the frame's origin is opaque
    for path in (
        "/exports/templates/modern/fonts/OFL.txt",  # not a font the manifest lists
        "/exports/templates/modern/fonts/..%2Fmanifest.toml",
        "/exports/templates/nope/fonts/NotoSans-Regular.ttf",
    ):
        assert world.api.client.get(path).status_code == 404, path

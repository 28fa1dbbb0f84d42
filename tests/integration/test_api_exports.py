"""The export routes through the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from exportd.api.app import create_app
from exportd.config import Settings
from exportd.db import Database
from exportd.db.tables import jobs
from exportd.errors import ErrorInfo
from exportd.queue.models import Claimed, Outcome
from tests.support.api import Api
from tests.support.artifacts import CONTENT, World, completed_export, world_for
from tests.support.export_ids import choose_ids
from tests.support.sources import fake_sources

PROBLEM = "application/problem+json"


@pytest.fixture
def api(settings: Settings, db: Database) -> Iterator[Api]:
    app = create_app(settings, db=db, sources=fake_sources())
    with TestClient(app) as client:
        yield Api(client, settings)


@pytest.fixture
def mail_api(settings: Settings, db: Database) -> Iterator[Api]:
    """An API that sends email (nothing listens there: only workers connect)."""
    configured = settings.model_copy(update={"smtp_url": SecretStr("smtp://127.0.0.1:2525")})
    with TestClient(create_app(configured, db=db, sources=fake_sources())) as client:
        yield Api(client, configured)


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["detail"]
    return body


def test_create_and_read(api: Api) -> None:
    created = api.create(
        "alice",
        {
            "source": "trades",
            "format": "csv",
            "params": {"symbol": "AAPL"},
            "columns": ["symbol", "pnl:P&L"],
        },
    )
    assert created.status_code == 202
    body = created.json()
    assert body["status"] == "queued"
    assert body["columns"] == [{"name": "symbol"}, {"name": "pnl", "label": "P&L"}]
    assert body["links"]["self"] == f"/v1/exports/{body['id']}"
    assert body["links"]["download"] is None
    assert created.headers["location"] == body["links"]["self"]
    read = api.client.get(body["links"]["self"], headers=api.as_user("alice"))
    assert read.status_code == 200
    assert read.json()["id"] == body["id"]
    assert read.json()["progress"] == {"percent": None, "rows_done": None, "rows_total": None}


def test_etag_makes_polls_cheap(api: Api) -> None:
    export_id = api.create("alice").json()["id"]
    headers = api.as_user("alice")
    first = api.client.get(f"/v1/exports/{export_id}", headers=headers)
    etag = first.headers["etag"]
    again = api.client.get(f"/v1/exports/{export_id}", headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    api.client.delete(f"/v1/exports/{export_id}", headers=headers)
    changed = api.client.get(f"/v1/exports/{export_id}", headers={**headers, "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.json()["status"] == "cancelled"


def test_request_id_is_echoed_and_stored(api: Api) -> None:
    created = api.create("alice", headers={"X-Request-ID": "req-abc.123"})
    assert created.headers["x-request-id"] == "req-abc.123"
    assert created.json()["correlation_id"] == "req-abc.123"
    generated = api.create("alice", headers={"X-Request-ID": "bad id with spaces\n"})
    assert generated.headers["x-request-id"] != "bad id with spaces"
    assert generated.json()["correlation_id"] == generated.headers["x-request-id"]


def test_idempotency_key_header(api: Api) -> None:
    first = api.create("bob", plan="pro", headers={"Idempotency-Key": "k"})
    replay = api.create("bob", plan="pro", headers={"Idempotency-Key": "k"})
    assert (first.status_code, replay.status_code) == (202, 200)
    assert first.json()["id"] == replay.json()["id"]
    other = api.create(
        "bob",
        {"source": "trades", "format": "json", "params": {}},
        plan="pro",
        headers={"Idempotency-Key": "k"},
    )
    assert_problem(other, 409, "idempotency_key_reused")


def test_validation_problems_name_the_field(api: Api) -> None:
    bad_params = api.create("alice", {"source": "trades", "format": "csv", "params": {"limit": 0}})
    body = assert_problem(bad_params, 422, "params_invalid")
    assert body["errors"][0]["field"] == "params.limit"
    unknown_column = api.create(
        "alice", {"source": "trades", "format": "csv", "params": {}, "columns": ["secret"]}
    )
    assert "symbol" in assert_problem(unknown_column, 422, "column_unknown")["errors"][0]["message"]
    # A repeat was accepted, then failed its job three times with a KeyError.
    repeated = api.create(
        "alice",
        {"source": "trades", "format": "csv", "params": {}, "columns": ["symbol", "symbol:Again"]},
    )
    assert "symbol" in assert_problem(repeated, 422, "column_repeated")["errors"][0]["message"]
    malformed = api.create("alice", {"format": "csv", "surprise": 1})
    fields = {e["field"] for e in assert_problem(malformed, 422, "request_invalid")["errors"]}
    assert {"body.source", "body.surprise"} <= fields
    assert_problem(
        api.create("alice", {"source": "trades", "format": "parquet"}), 403, "format_not_in_plan"
    )


def test_active_limit_answers_429_with_retry_after(api: Api) -> None:
    for _ in range(3):
        assert api.create("alice").status_code == 202
    over = api.create("alice")
    assert_problem(over, 429, "active_exports_limit")
    assert int(over.headers["retry-after"]) > 0


def test_exports_switched_off(settings: Settings, db: Database) -> None:
    off = settings.model_copy(update={"enable_exports": False})
    with TestClient(create_app(off, db=db, sources=fake_sources())) as client:
        api = Api(client, off)
        assert_problem(api.create("alice"), 503, "exports_disabled")
        assert client.get("/v1/exports", headers=api.as_user("alice")).status_code == 200


def test_list_failed_usage_and_sources(api: Api) -> None:
    ids = [api.create("bob", plan="pro").json()["id"] for _ in range(3)]
    headers = api.as_user("bob", plan="pro")
    page = api.client.get("/v1/exports?limit=2&stats=true", headers=headers).json()
    assert [e["id"] for e in page["items"]] == ids[:0:-1]
    assert page["stats"]["queued"] == 3
    rest = api.client.get(f"/v1/exports?limit=2&cursor={page['next_cursor']}", headers=headers)
    assert [e["id"] for e in rest.json()["items"]] == ids[:1]
    assert api.client.get("/v1/exports/failed", headers=headers).json() == []
    usage = api.client.get("/v1/me/usage", headers=headers).json()
    assert usage["usage"]["active_exports"] == 3
    assert usage["limits"]["max_active_jobs"] == 10
    catalogue = {s["name"]: s for s in api.client.get("/v1/sources", headers=headers).json()}
    assert sorted(catalogue) == ["resume", "trades"]
    source = catalogue["trades"]
    assert "symbol" in source["params_schema"]["properties"]
    assert [c["name"] for c in source["columns"]][:3] == ["id", "symbol", "direction"]
    assert source["column_presets"]["summary"] == ["opened_at", "symbol", "direction", "pnl"]


def _ids(api: Api, query: str) -> list[str]:
    response = api.client.get(f"/v1/exports?{query}", headers=api.as_user("alice"))
    assert response.status_code == 200, response.text
    return [e["id"] for e in response.json()["items"]]


def test_times_without_an_offset_are_utc_in_filters_and_cursors(api: Api) -> None:
    export_id = api.create("alice").json()["id"]
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    before, after = (
        (now - timedelta(minutes=5)).isoformat(),
        (now + timedelta(minutes=5)).isoformat(),
    )
    assert _ids(api, f"created_from={before}") == [export_id]
    assert _ids(api, f"created_from={before}%2B00:00") == [export_id]  # the same instant
    assert _ids(api, f"created_from={after}") == []
    assert _ids(api, f"created_to={after}") == [export_id]
    assert _ids(api, f"created_to={before}") == []
    assert _ids(api, f"created_to={now.date().isoformat()}") == []  # a date: its midnight, UTC
    for created in (after, f"{after}+00:00"):  # a cursor is read the same way
        cursor = base64.urlsafe_b64encode(f"{created}|{'f' * 32}".encode()).decode()
        assert _ids(api, f"cursor={cursor}") == [export_id]


def test_times_that_cannot_be_utc_are_refused_not_a_500(api: Api) -> None:
    headers = api.as_user("alice")
    for query in (
        "created_from=0001-01-01T00:00:00%2B05:00",
        "created_to=9999-12-31T23:00:00-05:00",
    ):
        response = api.client.get(f"/v1/exports?{query}", headers=headers)
        assert_problem(response, 422, "datetime_out_of_range")
    for created in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00", "not-a-time"):
        cursor = base64.urlsafe_b64encode(f"{created}|x".encode()).decode()
        response = api.client.get(f"/v1/exports?cursor={cursor}", headers=headers)
        assert_problem(response, 422, "cursor_invalid")


def test_cancel_delete_and_retry_codes(api: Api) -> None:
    headers = api.as_user("alice")
    export_id = api.create("alice").json()["id"]
    cancelled = api.client.delete(f"/v1/exports/{export_id}", headers=headers)
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
    assert_problem(
        api.client.post(f"/v1/exports/{export_id}/retry", headers=headers), 409, "export_not_failed"
    )
    assert api.client.delete(f"/v1/exports/{export_id}", headers=headers).status_code == 204
    assert_problem(
        api.client.get(f"/v1/exports/{export_id}", headers=headers), 404, "export_not_found"
    )


def test_cancel_route_cancels_a_queued_export_and_refuses_a_final_one(api: Api) -> None:
    headers = api.as_user("alice")
    export_id = api.create("alice").json()["id"]
    cancelled = api.client.post(f"/v1/exports/{export_id}/cancel", headers=headers)
    assert (cancelled.status_code, cancelled.json()["status"]) == (202, "cancelled")
    again = api.client.post(f"/v1/exports/{export_id}/cancel", headers=headers)
    body = assert_problem(again, 409, "export_not_active")
    assert "cancelled" in body["detail"]
    still = api.client.get(f"/v1/exports/{export_id}", headers=headers)
    assert (still.status_code, still.json()["status"]) == (200, "cancelled")


def test_cancel_route_asks_a_running_export_to_stop(api: Api, db: Database) -> None:
    headers = api.as_user("alice")
    export_id = api.create("alice").json()["id"]
    store = api.client.app.state.exports.store  # type: ignore[attr-defined]
    with db.write() as conn:
        [job] = store.claim(conn, worker_id="w", queues=["default"], limit=1)
    for _ in range(2):  # asking twice is the same request
        asked = api.client.post(f"/v1/exports/{export_id}/cancel", headers=headers)
        assert (asked.status_code, asked.json()["status"]) == (202, "running")
    with db.read() as conn:
        requested = conn.execute(select(jobs.c.cancel_requested).where(jobs.c.id == job.id))
        assert requested.scalar() is True


def test_an_export_waiting_to_retry_says_why_and_when(api: Api, db: Database) -> None:
    """A failed attempt that will be retried shows on the export: still `queued`, with
    the attempt's error and the time of the next one; the retry clears neither field
    too early nor leaves them after success."""
    headers = api.as_user("alice")
    export_id = api.create("alice").json()["id"]
    fresh = api.client.get(f"/v1/exports/{export_id}", headers=headers).json()
    assert (fresh["attempts"], fresh["last_attempt_error"], fresh["next_attempt_at"]) == (
        0,
        None,
        None,
    )
    assert fresh["max_attempts"] >= 2
    store = api.client.app.state.exports.store  # type: ignore[attr-defined]
    with db.write() as conn:
        [job] = store.claim(conn, worker_id="w", queues=["default"], limit=1)
        error = ErrorInfo("storage_unavailable", "the bucket did not answer", True)
        store.settle(conn, Outcome(claim=Claimed(job.id, job.attempt), error=error))
    waiting = api.client.get(f"/v1/exports/{export_id}", headers=headers).json()
    assert (waiting["status"], waiting["attempts"], waiting["error"]) == ("queued", 1, None)
    assert waiting["last_attempt_error"] == {
        "code": "storage_unavailable",
        "message": "the bucket did not answer",
        "retryable": True,
    }
    assert datetime.fromisoformat(waiting["next_attempt_at"]) > datetime.now(UTC)
    with db.write() as conn:  # the retry is due now, and runs
        conn.execute(jobs.update().where(jobs.c.id == job.id).values(run_after=datetime.now(UTC)))
        [again] = store.claim(conn, worker_id="w", queues=["default"], limit=1)
    running = api.client.get(f"/v1/exports/{export_id}", headers=headers).json()
    assert (running["status"], running["attempts"], running["next_attempt_at"]) == (
        "running",
        2,
        None,
    )
    assert running["last_attempt_error"]["code"] == "storage_unavailable"
    with db.write() as conn:
        store.settle(conn, Outcome(claim=Claimed(again.id, again.attempt), result={}))
    done = api.client.get(f"/v1/exports/{export_id}", headers=headers).json()
    assert (done["status"], done["last_attempt_error"], done["error"]) == ("completed", None, None)


@pytest.fixture
def world(settings: Settings, db: Database, tmp_path: Path) -> Iterator[World]:
    with world_for(settings, db, tmp_path) as w:
        yield w


def test_cancel_route_never_deletes_a_completed_export(world: World) -> None:
    """The CLI's Ctrl-C asks "cancel the export on the server?": an export that completed
    while the question waited must still be there, and downloadable, after a yes."""
    export_id = completed_export(world)
    headers = world.api.as_user("alice")
    refused = world.api.client.post(f"/v1/exports/{export_id}/cancel", headers=headers)
    assert_problem(refused, 409, "export_not_active")
    still = world.api.client.get(f"/v1/exports/{export_id}", headers=headers)
    assert (still.status_code, still.json()["status"]) == (200, "completed")
    download = world.api.client.get(f"/v1/exports/{export_id}/download", headers=headers)
    assert (download.status_code, download.content) == (200, CONTENT)


ROUTES = [
    ("GET", "/v1/exports/{id}"),
    ("DELETE", "/v1/exports/{id}"),
    ("POST", "/v1/exports/{id}/cancel"),
    ("POST", "/v1/exports/{id}/retry"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_another_users_export_is_not_found(api: Api, method: str, path: str) -> None:
    export_id = api.create("alice").json()["id"]
    response = api.client.request(method, path.format(id=export_id), headers=api.as_user("mallory"))
    body = assert_problem(response, 404, "export_not_found")
    assert "alice" not in response.text
    assert body["instance"] == path.format(id=export_id)
    # And the owner still sees it untouched.
    mine = api.client.get(f"/v1/exports/{export_id}", headers=api.as_user("alice"))
    assert mine.json()["status"] == "queued"


def test_lists_show_only_the_callers_exports(api: Api) -> None:
    api.create("alice")
    headers = api.as_user("mallory")
    assert api.client.get("/v1/exports", headers=headers).json()["items"] == []
    assert api.client.get("/v1/exports/failed", headers=headers).json() == []
    admin = api.as_user("root", plan="pro", admin=True)
    assert len(api.client.get("/v1/exports", headers=admin).json()["items"]) == 1


def test_id_prefix_finds_the_callers_exports_by_how_their_id_starts(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    abc1, abc2, abd, bobs = choose_ids(monkeypatch, "abc1", "abc2", "abd", "abc3")
    for user in ("alice", "alice", "alice", "bob"):
        assert api.create(user, plan="pro").status_code == 202

    def found(user: str, prefix: str) -> list[str]:
        page = api.client.get(
            "/v1/exports", params={"id_prefix": prefix}, headers=api.as_user(user)
        )
        assert page.status_code == 200, page.text
        return [item["id"] for item in page.json()["items"]]

    assert found("alice", "abc") == [abc2, abc1]  # newest first
    assert found("alice", "abd") == [abd]
    assert found("alice", abc1) == [abc1]  # the whole id
    assert found("alice", "abc3") == []  # bob's: not found, as ever
    assert found("bob", "ab") == [bobs]
    for bad in ("ABC", "ab%", "a_c", "", "a" * 33):
        refused = api.client.get(
            "/v1/exports", params={"id_prefix": bad}, headers=api.as_user("alice")
        )
        body = assert_problem(refused, 422, "request_invalid")
        assert body["errors"][0]["field"] == "query.id_prefix", bad


def test_batch_route(api: Api) -> None:
    headers = api.as_user("bob", plan="pro")
    item = {"source": "trades", "format": "csv", "params": {}}
    done = api.client.post("/v1/exports/batch", json={"items": [item, item]}, headers=headers)
    assert done.status_code == 202
    assert len({e["id"] for e in done.json()["items"]}) == 2
    bad = api.client.post(
        "/v1/exports/batch",
        json={"items": [item, {**item, "params": {"limit": -1}}]},
        headers=headers,
    )
    assert (
        assert_problem(bad, 422, "params_invalid")["errors"][0]["field"] == "items.1.params.limit"
    )
    assert_problem(
        api.client.post("/v1/exports/batch", json={"items": []}, headers=headers),
        422,
        "batch_empty",
    )
    listed = api.client.get("/v1/exports", headers=headers).json()["items"]
    assert len(listed) == 2


def test_notifications_go_only_to_the_callers_own_address(mail_api: Api) -> None:
    api = mail_api
    body = {"source": "trades", "format": "csv", "notify": {"email": "eve@example.com"}}
    problem = assert_problem(
        api.create("alice", body, email="alice@example.com"), 422, "notify_email_not_allowed"
    )
    assert problem["errors"][0]["field"] == "notify.email"
    assert_problem(api.create("alice", body), 422, "notify_email_not_allowed")  # no email claim
    own = {**body, "notify": {"email": "Alice@Example.com"}}
    assert api.create("alice", own, email="alice@example.com").status_code == 202
    assert api.create("root", body, admin=True).status_code == 202  # an admin may name any


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://127.0.0.1:9000/hook", "webhook_address_refused"),
        ("http://169.254.169.254/latest/meta-data", "webhook_address_refused"),
        ("http://localhost/hook", "webhook_address_refused"),
        ("https://user:pw@hooks.example.com/x", "webhook_url_invalid"),
    ],
)
def test_webhook_urls_to_private_addresses_are_refused_at_creation(
    api: Api, url: str, code: str
) -> None:
    body = {"source": "trades", "format": "csv", "notify": {"webhook_url": url}}
    assert_problem(api.create("alice", body), 422, code)
    ok = {**body, "notify": {"webhook_url": "https://hooks.example.com/exports"}}
    assert api.create("alice", ok).status_code == 202


def test_templates_are_listed_with_their_versions_and_formats(api: Api) -> None:
    listed = api.client.get("/v1/templates", headers=api.as_user("alice")).json()
    by_name = {t["name"]: t for t in listed}
    assert by_name["classic"]["engine"] == "typst"
    assert by_name["classic"]["formats"] == ["pdf"]
    assert by_name["modern"]["formats"] == ["pdf", "html"]
    assert by_name["modern"]["required_sections"] == ["profile", "work"]
    assert all(t["version"] for t in listed)


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"source": "resume", "format": "pdf", "template": "nope"}, "template_unknown", "template"),
        (
            {"source": "resume", "format": "html", "template": "classic"},
            "format_not_supported",
            "format",
        ),
        (
            {"source": "trades", "format": "csv", "template": "classic"},
            "template_not_applicable",
            "template",
        ),
    ],
)
def test_templates_are_checked_at_creation(api: Api, body: dict, code: str, field: str) -> None:
    problem = assert_problem(api.create("alice", body), 422, code)
    assert problem["errors"][0]["field"] == field


def test_a_resume_export_takes_the_default_template(api: Api) -> None:
    document = {"title": "CV", "content": {"profile": {"name": "Ada"}}}
    api.client.post("/v1/documents", json=document, headers=api.as_user("alice"))
    created = api.create("alice", {"source": "resume", "format": "pdf"})
    assert created.status_code == 202
    assert created.json()["template"] == "classic"


@pytest.mark.parametrize(
    ("options", "fmt", "code", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "csv", "timezone_unknown", "options.timezone"),
        ({"delimiter": "x"}, "csv", "request_invalid", "options.delimiter"),
        ({"delimiter": ";"}, "xlsx", "option_not_applicable", "options.delimiter"),
        ({"bom": True}, "jsonl", "option_not_applicable", "options.bom"),
        ({"locale": "xx_YY"}, "csv", "locale_unknown", "options.locale"),
        ({"locale": "de_DE"}, "xlsx", "option_not_applicable", "options.locale"),
        ({"line_terminator": "\r"}, "csv", "request_invalid", "options.line_terminator"),
        ({"line_terminator": "\r\n"}, "xlsx", "option_not_applicable", "options.line_terminator"),
        ({"compression": "bzip2"}, "csv", "request_invalid", "options.compression"),
        ({"compression": "gzip"}, "xlsx", "option_not_applicable", "options.compression"),
        ({"compression": "zip"}, "parquet", "option_not_applicable", "options.compression"),
    ],
)
def test_bad_write_options_are_named(
    api: Api, options: dict, fmt: str, code: str, field: str
) -> None:
    body = {"source": "trades", "format": fmt, "options": options}
    problem = assert_problem(api.create("alice", body), 422, code)
    assert any(field in e["field"] for e in problem["errors"])
    ok = api.create(
        "alice",
        {
            "source": "trades",
            "format": "csv",
            "options": {"timezone": "Asia/Tokyo", "delimiter": "\t", "line_terminator": "\r\n"},
        },
    )
    assert ok.status_code == 202
    assert ok.json()["options"] == {
        "timezone": "Asia/Tokyo",
        "delimiter": "\t",
        "line_terminator": "\r\n",
    }


@pytest.mark.parametrize(
    ("source", "fmt", "compression"),
    [
        ("trades", "xlsx", "gzip"),
        ("trades", "xlsx", "zip"),
        ("trades", "parquet", "gzip"),
        ("trades", "parquet", "zip"),
        ("resume", "pdf", "gzip"),
    ],
)
def test_compression_is_refused_up_front_where_it_does_not_apply(
    api: Api, source: str, fmt: str, compression: str
) -> None:
    body = {"source": source, "format": fmt, "options": {"compression": compression}}
    problem = assert_problem(api.create("alice", body), 422, "option_not_applicable")
    assert problem["errors"] == [
        {"field": "options.compression", "message": "csv, jsonl, json only"}
    ]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
@pytest.mark.parametrize("compression", ["gzip", "zip"])
def test_compression_is_taken_for_text_formats(api: Api, fmt: str, compression: str) -> None:
    body = {"source": "trades", "format": fmt, "options": {"compression": compression}}
    created = api.create("alice", body)
    assert created.status_code == 202, created.text
    assert created.json()["options"] == {"compression": compression}


def test_a_decimal_comma_locale_takes_semicolons_unless_told_otherwise(api: Api) -> None:
    german = api.create(
        "alice", {"source": "trades", "format": "csv", "options": {"locale": "de-DE"}}
    )
    assert german.status_code == 202, german.text
    assert german.json()["options"] == {"locale": "de_DE", "delimiter": ";"}
    piped = api.create(
        "alice",
        {"source": "trades", "format": "csv", "options": {"locale": "de_DE", "delimiter": "|"}},
    )
    assert piped.json()["options"] == {"locale": "de_DE", "delimiter": "|"}
    american = api.create(
        "alice", {"source": "trades", "format": "csv", "options": {"locale": "en_US"}}
    )
    assert american.json()["options"] == {"locale": "en_US"}


@pytest.mark.parametrize(
    "raw",
    [
        b"2026-01-01T00:00:00+00:00|\x00",  # a NUL in the id reached PostgreSQL: a 500
        b"2026-01-01T00:00:00+00:00|id\x1f",
        "2026-01-01T00:00:00+00:00|é".encode(),
    ],
)
def test_a_cursor_whose_id_no_export_can_have_is_refused(api: Api, raw: bytes) -> None:
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    listed = api.client.get(f"/v1/exports?cursor={cursor}", headers=api.as_user("alice"))
    assert_problem(listed, 422, "cursor_invalid")


def test_malformed_json_says_where_it_breaks(api: Api) -> None:
    broken = api.client.post(
        "/v1/exports",
        content=b'{\n  "source": "trades",\n  "format": }',
        headers={**api.as_user("alice"), "Content-Type": "application/json"},
    )
    body = assert_problem(broken, 422, "json_invalid")
    assert "line 3, column 13" in body["detail"]


@pytest.mark.parametrize("path", ["/v1/exports", "/v1/documents", "/v1/schedules"])
def test_json_nested_too_deeply_is_json_invalid(api: Api, path: str) -> None:
    """Past the parser's depth (about a thousand levels) it is still the body's fault."""
    deep = b'{"params": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    sent = api.client.post(
        path, content=deep, headers={**api.as_user("alice"), "Content-Type": "application/json"}
    )
    body = assert_problem(sent, 422, "json_invalid")
    assert "nested too deeply" in body["detail"]


def test_a_body_that_is_not_json_is_415(api: Api) -> None:
    sent = api.client.post(
        "/v1/exports",
        content=b"source=trades&format=csv",
        headers={**api.as_user("alice"), "Content-Type": "application/x-www-form-urlencoded"},
    )
    body = assert_problem(sent, 415, "content_type_unsupported")
    assert "application/x-www-form-urlencoded" in body["detail"]


def test_a_query_parameter_given_twice_is_refused_not_half_read(api: Api) -> None:
    answer = api.client.get("/v1/exports?source=trades&source=resume", headers=api.as_user("alice"))
    assert answer.status_code == 422
    assert answer.json()["code"] == "request_invalid"
    assert answer.json()["errors"] == [{"field": "query.source", "message": "given more than once"}]
    once = api.client.get("/v1/exports?source=trades", headers=api.as_user("alice"))
    assert once.status_code == 200


@pytest.mark.parametrize(
    ("engine", "template", "fmt", "status", "code"),
    [
        ("weasyprint", "modern", "pdf", 202, None),
        ("chromium", "classic", "pdf", 202, None),  # Typst prints classic, whatever the engine
        ("chromium", "modern", "pdf", 422, "pdf_standard_unsupported"),
        ("weasyprint", "modern", "html", 422, "option_not_applicable"),
    ],
)
def test_pdf_standard_is_refused_up_front_where_the_engine_cannot_make_it(
    settings: Settings, db: Database, engine: str, template: str, fmt: str, status: int, code: str
) -> None:
    configured = settings.model_copy(update={"pdf_engine": engine})
    with TestClient(create_app(configured, db=db, sources=fake_sources())) as client:
        api = Api(client, configured)
        work = [{"organisation": "Acme", "role": "Engineer"}]
        document = {"title": "CV", "content": {"profile": {"name": "Ada"}, "work": work}}
        api.client.post("/v1/documents", json=document, headers=api.as_user("alice"))
        body = {
            "source": "resume",
            "format": fmt,
            "template": template,
            "options": {"pdf_standard": "pdf/a-2b"},
        }
        created = api.create("alice", body)
        if code is None:
            assert created.status_code == status, created.text
            assert created.json()["options"] == {"pdf_standard": "pdf/a-2b"}
        else:
            problem = assert_problem(created, status, code)
            assert problem["errors"][0]["field"] == "options.pdf_standard"

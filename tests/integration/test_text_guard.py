"""NUL and lone surrogates are refused at the edge with 422 ``text_invalid`` on every route,
on SQLite and PostgreSQL (PostgreSQL cannot store either: it answered 500)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from fastapi import routing
from fastapi.testclient import TestClient

from exportd.api.app import create_app
from exportd.config import Settings
from exportd.db import Database
from tests.support.api import Api
from tests.support.sources import fake_sources

RESUME = {"profile": {"name": "Ada"}}


@pytest.fixture
def api(settings: Settings, db: Database) -> Iterator[Api]:
    with TestClient(create_app(settings, db=db, sources=fake_sources())) as client:
        yield Api(client, settings)


def assert_refused(response, where: str) -> None:
    assert (response.status_code, response.json()["code"]) == (422, "text_invalid"), response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert where in response.json()["detail"]


def post_json(api: Api, path: str, text: str, **headers: str):
    # Raw JSON text, so the escapes are exactly the ones a client would send.
    return api.client.post(
        path,
        content=text.encode(),
        headers={**api.as_user("alice"), "Content-Type": "application/json", **headers},
    )


BAD_BODIES = [
    ("/v1/documents", r'{"title": "a\u0000b", "content": {"profile": {"name": "Ada"}}}'),
    ("/v1/documents", r'{"title": "CV", "content": {"profile": {"name": "A\u0000"}}}'),
    ("/v1/documents", r'{"title": "CV", "content": {"profile": {"name": "A"}, "x\u0000": 1}}'),
    ("/v1/documents", r'{"title": "a\ud800b", "content": {"profile": {"name": "Ada"}}}'),
    ("/v1/documents", r'{"title": "a\udc00", "content": {"profile": {"name": "Ada"}}}'),
    ("/v1/documents", r'{"title": "\\\u0000", "content": {"profile": {"name": "Ada"}}}'),
    ("/v1/exports", r'{"source": "trades", "format": "csv", "params": {"symbol": "\u0000"}}'),
    ("/v1/exports", r'{"source": "trades", "format": "csv", "params": {}, "columns": ["\u0000"]}'),
    ("/v1/exports/batch", r'{"items": [{"source": "t\u0000", "format": "csv", "params": {}}]}'),
]


@pytest.mark.parametrize(("path", "text"), BAD_BODIES)
def test_json_bodies_with_nul_or_a_lone_surrogate_are_refused(
    api: Api, path: str, text: str
) -> None:
    assert_refused(post_json(api, path, text), "the body")
    headers = api.as_user("alice")
    assert api.client.get("/v1/documents", headers=headers).json() == []
    assert api.client.get("/v1/exports", headers=headers).json()["items"] == []


def test_text_that_only_looks_like_nul_is_kept(api: Api) -> None:
    """An escaped backslash before u0000, and a surrogate pair, are ordinary text."""
    text = r'{"title": "\\u0000 \ud83d\ude00", "content": {"profile": {"name": "Ada"}}}'
    made = post_json(api, "/v1/documents", text)
    assert made.status_code == 201, made.text
    assert made.json()["title"] == "\\u0000 \U0001f600"


def test_nul_in_the_path_query_or_a_header_is_refused(api: Api) -> None:
    alice = api.as_user("alice")
    admin = api.as_user("root", admin=True)
    body = {"source": "trades", "format": "csv", "params": {}}
    assert_refused(api.client.get("/v1/exports/a%00b", headers=alice), "the path")
    assert_refused(api.client.get("/v1/documents/a%00b", headers=alice), "the path")
    assert_refused(api.client.put("/v1/plans/a%00b", json={}, headers=admin), "the path")
    assert_refused(api.client.get("/v1/exports?source=a%00", headers=alice), "the query")
    assert_refused(api.client.get("/v1/exports?cursor=%00", headers=alice), "the query")
    keyed = api.client.post("/v1/exports", json=body, headers={**alice, "Idempotency-Key": "k\x00"})
    assert_refused(keyed, "idempotency-key")
    assert api.client.get("/v1/exports", headers=alice).json()["items"] == []


def test_a_form_with_nul_is_refused(api: Api) -> None:
    response = api.client.post(
        "/exports/sign-in",
        content=b"token=abc%00",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_refused(response, "the body")


def _paths(app) -> list[tuple[str, str]]:
    found = []
    for context in routing.iter_route_contexts(app.routes):
        route = context.original_route
        path = re.sub(r"\{[a-z_]+(:path)?\}", "x", route.path)
        for method in (getattr(route, "methods", None) or {"GET"}) - {"HEAD"}:
            found.append((method, path))
    return found


def test_every_route_refuses_nul(api: Api) -> None:
    """The guard stands in front of routing: no route (nor an unknown one) is left out."""
    paths = [*_paths(api.client.app), ("GET", "/no/such/route")]
    assert len(paths) > 40
    headers = api.as_user("alice", admin=True)
    for method, path in paths:
        response = api.client.request(method, f"{path}?q=%00", headers=headers)
        assert_refused(response, "the query")


def test_ordinary_control_characters_still_pass(api: Api) -> None:
    """Only NUL is refused: a tab or a newline in a title is text like any other."""
    text = json.dumps({"title": "a\tb\nc", "content": RESUME})
    assert post_json(api, "/v1/documents", text).status_code == 201


def test_a_body_sent_with_a_get_is_ignored_not_a_broken_stream(api: Api) -> None:
    """The live stream reads receive() only to hear a disconnect: a body it never uses
    must not end it (it did, silently, with the body checked on every method)."""
    alice = api.as_user("alice")
    export_id = api.create("alice").json()["id"]
    api.client.delete(f"/v1/exports/{export_id}", headers=alice)  # final: one event, then end
    response = api.client.request(
        "GET", f"/v1/exports/{export_id}/events", content=b"\x00", headers=alice
    )
    assert response.status_code == 200
    assert "event: export" in response.text

"""Response headers: a CSP, no framing, no sniffing, no referrer to other sites, and
``no-store`` on user data — on the page, its fragments and the API; Range refusals as
problems.  (The headers do not depend on the database: SQLite only.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from httpx2 import Response

from exportd.api.security_headers import API_CSP, DOCS_CSP, PAGE_CSP
from exportd.config import Settings
from exportd.db import Database
from exportd.demo.resumes import RESUMES
from tests.support.artifacts import CONTENT, World, completed_export, world_for

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def world(settings: Settings, db: Database, tmp_path: Path) -> Iterator[World]:
    with world_for(settings, db, tmp_path) as w:
        yield w


def assert_base(response: Response) -> None:
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def assert_private_page(response: Response) -> None:
    assert_base(response)
    assert response.headers["Content-Security-Policy"] == PAGE_CSP
    assert response.headers["Cache-Control"] == "no-store"


def sign_in(world: World, user: str = "alice") -> str:
    client = world.api.client
    client.post("/exports/sign-in", data={"token": world.api.token(user)})
    found = re.search(r'"X-CSRF-Token": "([0-9a-f]+)"', client.get("/exports").text)
    assert found
    return found.group(1)


def test_the_page_allows_only_its_own_scripts_and_styles() -> None:
    scripts = re.search(r"script-src ([^;]+)", PAGE_CSP)
    styles = re.search(r"style-src ([^;]+)", PAGE_CSP)
    assert scripts
    assert styles
    assert scripts.group(1) == styles.group(1) == "'self'"  # no 'unsafe-inline', no eval
    assert "default-src 'none'" in PAGE_CSP


@SQLITE
def test_the_page_and_its_fragments_carry_the_headers(world: World) -> None:
    client = world.api.client
    assert_private_page(client.get("/exports"))  # the sign-in form
    sign_in(world)
    assert_private_page(client.get("/exports"))
    assert_private_page(client.get("/exports/usage"))
    assert_private_page(client.get("/exports/form", params={"source": "trades"}))
    export_id = completed_export(world, owner="alice")
    download = client.get(f"/exports/{export_id}/download", follow_redirects=False)
    assert download.status_code == 303
    assert_private_page(download)


@SQLITE
def test_the_api_carries_the_headers_and_no_store_on_user_data(world: World) -> None:
    client, headers = world.api.client, world.api.as_user("alice")
    export_id = completed_export(world, owner="alice")
    document = client.post(
        "/v1/documents", headers=headers, json={"title": "CV", "content": RESUMES["alice"]}
    )
    assert document.status_code == 201
    answers = [
        client.get("/v1/exports", headers=headers),
        client.get(f"/v1/exports/{export_id}", headers=headers),
        client.post(f"/v1/exports/{export_id}/download-token", headers=headers),
        client.get(f"/v1/exports/{export_id}/download", headers=headers),
        client.get("/v1/documents", headers=headers),
        document,
        client.get("/v1/exports/nope", headers=headers),  # a problem
        client.get("/v1/exports"),  # 401
    ]
    for response in answers:
        assert_base(response)
        assert response.headers["Content-Security-Policy"] == API_CSP, response.request.url
        assert "no-store" in response.headers["Cache-Control"], response.request.url


@SQLITE
def test_public_responses_stay_cacheable_but_not_sniffable(world: World) -> None:
    for path in ("/healthz", "/exports/static/exportd.js", "/openapi.json"):
        response = world.api.client.get(path)
        assert response.status_code == 200
        assert_base(response)
        assert "Cache-Control" not in response.headers, path


@SQLITE
def test_the_api_docs_run_only_their_own_files_and_cannot_be_framed(world: World) -> None:
    response = world.api.client.get("/docs")
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == DOCS_CSP
    assert "default-src 'none'" in DOCS_CSP
    for directive in ("script-src", "style-src"):
        found = re.search(rf"{directive} ([^;]+)", DOCS_CSP)
        assert found
        assert found.group(1) == "'self'"  # no CDN, no inline code, no eval
    assert response.headers["X-Frame-Options"] == "DENY"
    bundle = world.api.client.get("/docs/assets/swagger-ui-bundle.js")
    assert (bundle.status_code, bundle.headers["content-type"]) == (
        200,
        "text/javascript; charset=utf-8",
    )


@SQLITE
def test_a_document_preview_may_be_framed_by_the_page_only(world: World) -> None:
    client, headers = world.api.client, world.api.as_user("alice")
    created = client.post(
        "/v1/documents", headers=headers, json={"title": "CV", "content": RESUMES["alice"]}
    )
    document_id = created.json()["id"]
    sign_in(world)
    framed = [
        client.get(f"/exports/documents/{document_id}/preview", params={"template": "modern"}),
        client.get("/exports/documents/nope/preview"),  # the notice shown in the frame
        client.post(f"/v1/documents/{document_id}/preview", headers=headers, json={}),
    ]
    for response in framed:
        assert response.status_code == 200, response.text
        policy = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'self'" in policy
        assert "script-src" not in policy
        assert "default-src 'none'" in policy
        assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "no-store" in response.headers["Cache-Control"]


@SQLITE
def test_the_event_streams_are_no_store(world: World) -> None:
    sign_in(world)
    with world.api.client.stream("GET", "/exports/live") as stream:
        assert stream.headers["Cache-Control"] == "no-store"


# -- Range refusals ----------------------------------------------------------------------


def _download(world: World, export_id: str, range_: str, *, link: bool) -> Response:
    client, headers = world.api.client, world.api.as_user("alice")
    if link:
        url = client.post(f"/v1/exports/{export_id}/download-token", headers=headers).json()
        return client.get(url["url"], headers={"Range": range_})
    return client.get(f"/v1/exports/{export_id}/download", headers={**headers, "Range": range_})


@SQLITE
@pytest.mark.parametrize("link", [False, True], ids=["owner", "link"])
def test_an_unsatisfiable_range_is_a_problem(world: World, link: bool) -> None:
    export_id = completed_export(world)
    response = _download(world, export_id, f"bytes={len(CONTENT) + 10}-", link=link)
    assert response.status_code == 416
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "range_not_satisfiable"
    assert response.headers["Content-Range"] == f"bytes */{len(CONTENT)}"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@SQLITE
@pytest.mark.parametrize("link", [False, True], ids=["owner", "link"])
@pytest.mark.parametrize("range_", ["bytes=abc", "bytes=5-2", "lines=1-2", "bytes"])
def test_a_malformed_range_is_a_problem(world: World, link: bool, range_: str) -> None:
    response = _download(world, completed_export(world), range_, link=link)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "range_invalid"


@SQLITE
def test_a_good_range_still_answers_206(world: World) -> None:
    response = _download(world, completed_export(world), "bytes=0-5", link=False)
    assert (response.status_code, response.content) == (206, CONTENT[:6])
    assert response.headers["Content-Range"] == f"bytes 0-5/{len(CONTENT)}"

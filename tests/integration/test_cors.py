"""Cross-origin calls (EXPORTD_CORS_ORIGINS): a listed origin may call /v1 with a bearer
token and read every answer, problems too; any other origin, any other path, or no
setting at all gets no CORS header, so a browser keeps the answer from the page.
(Nothing here depends on the database: SQLite only.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from exportd.api.app import create_app
from exportd.config import Settings
from exportd.db import Database
from tests.support.api import Api
from tests.support.sources import fake_sources

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

HOST = "https://app.example.com"


def _api(settings: Settings, db: Database, tmp_path: Path, origins: list[str]) -> Iterator[Api]:
    config = settings.model_copy(
        update={"cors_origins": origins, "storage_url": f"file://{tmp_path / 'files'}"}
    )
    with TestClient(create_app(config, db=db, sources=fake_sources())) as client:
        yield Api(client, config)


@pytest.fixture
def api(settings: Settings, db: Database, tmp_path: Path) -> Iterator[Api]:
    yield from _api(settings, db, tmp_path, [HOST])


def _preflight(api: Api, origin: str, path: str = "/v1/exports") -> dict[str, str]:
    response = api.client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
        },
    )
    return dict(response.headers)


def test_a_listed_origin_may_post_with_a_token(api: Api) -> None:
    headers = _preflight(api, HOST)
    assert headers["access-control-allow-origin"] == HOST
    allowed = headers["access-control-allow-headers"].lower()
    for name in ("authorization", "content-type", "idempotency-key", "last-event-id", "prefer"):
        assert name in allowed
    assert "POST" in headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in headers  # tokens, never cookies


def test_a_listed_origin_reads_answers_and_problems(api: Api) -> None:
    created = api.create("alice", headers={"Origin": HOST})
    assert created.status_code == 202
    assert created.headers["access-control-allow-origin"] == HOST
    exposed = created.headers["access-control-expose-headers"]
    for name in ("Location", "ETag", "Preference-Applied"):  # a page long-polls
        assert name in exposed
    missing = api.client.get("/v1/exports/nope", headers={"Origin": HOST, **api.as_user("alice")})
    assert missing.status_code == 404
    assert missing.headers["access-control-allow-origin"] == HOST
    assert missing.json()["code"] == "export_not_found"


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example.com", "http://app.example.com", "https://app.example.com:8443", "null"],
)
def test_any_other_origin_gets_no_cors_header(api: Api, origin: str) -> None:
    assert "access-control-allow-origin" not in _preflight(api, origin)
    created = api.create("alice", headers={"Origin": origin})
    assert created.status_code == 202  # the server acts; the browser hides the answer
    assert "access-control-allow-origin" not in created.headers


@pytest.mark.parametrize("path", ["/exports", "/metrics", "/openapi.json", "/healthz"])
def test_only_the_api_is_shared(api: Api, path: str) -> None:
    assert "access-control-allow-origin" not in _preflight(api, HOST, path)
    answer = api.client.get(path, headers={"Origin": HOST})
    assert "access-control-allow-origin" not in answer.headers


def test_no_origin_is_listed_by_default(settings: Settings, db: Database, tmp_path: Path) -> None:
    assert settings.cors_origins == []
    for api in _api(settings, db, tmp_path, []):
        assert "access-control-allow-origin" not in _preflight(api, HOST)
        created = api.create("alice", headers={"Origin": HOST})
        assert "access-control-allow-origin" not in created.headers

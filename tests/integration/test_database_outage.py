"""A database outage answers ``503 database_unavailable`` with ``Retry-After`` on every
route that needs the database — the API's and the page's — never a 500, while
``/healthz`` stays 200 and ``/readyz`` says not ready.

Real outages, no mocks: PostgreSQL at a port where nothing listens, a database dropped
under a running app, its connections killed with ``pg_terminate_backend`` (the server
itself stays up: other tests use it); SQLite at a path that cannot be opened, and a
SQLite file locked by another writer past the busy timeout.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from psycopg import sql

from exportd.api.app import create_app
from exportd.auth.api_keys import PREFIX
from exportd.config import Settings, load_settings
from exportd.exports.links import DownloadLinks
from exportd.web.session import COOKIE, CSRF_HEADER, csrf_token
from tests.support.api import Api
from tests.support.databases import (
    PG_ADMIN_URL,
    fresh_pg_database,
    migrated_sqlite,
    require_postgres,
)
from tests.support.sources import fake_sources

EXPORT_ID = "0" * 26


def download_token(settings: Settings) -> str:
    """A well-signed link, so the route gets as far as the database."""
    links = DownloadLinks(settings.secret_key.get_secret_value(), ttl_s=600)
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=10)
    return f"tok.{int(expires.timestamp())}.{links._sign('tok', expires)}"


def requests(api: Api) -> list[tuple[str, str, dict[str, Any]]]:
    """Every kind of route that reads or writes the database, as a client would call it."""
    jwt = api.as_user("alice", plan="pro")
    admin = api.as_user("root", admin=True)
    key = {"Authorization": f"Bearer {PREFIX}abc.def"}
    page = {"Cookie": f"{COOKIE}={api.token('alice')}"}
    hx = {
        **page,
        "HX-Request": "true",
        CSRF_HEADER: csrf_token(api.settings.secret_key.get_secret_value(), api.token("alice")),
    }
    body = {"source": "trades", "format": "csv", "params": {}}
    body_form = {"source": "trades", "format": "csv"}
    return [
        ("GET", "/v1/exports", {"headers": jwt}),
        ("POST", "/v1/exports", {"headers": jwt, "json": body}),
        ("GET", f"/v1/exports/{EXPORT_ID}", {"headers": jwt}),
        ("DELETE", f"/v1/exports/{EXPORT_ID}", {"headers": jwt}),
        ("GET", f"/v1/exports/{EXPORT_ID}/events", {"headers": jwt}),
        ("GET", f"/v1/exports/{EXPORT_ID}/download", {"headers": jwt}),
        ("POST", f"/v1/exports/{EXPORT_ID}/download-token", {"headers": jwt}),
        ("GET", f"/v1/downloads/{download_token(api.settings)}", {}),
        ("GET", "/v1/me/usage", {"headers": jwt}),
        ("GET", "/v1/sources", {"headers": key}),  # an API key is looked up in the database
        ("GET", "/v1/documents", {"headers": jwt}),
        ("GET", "/v1/exports/failed", {"headers": admin}),
        ("GET", "/exports", {"headers": page}),
        ("GET", "/exports/usage", {"headers": hx}),
        ("POST", "/exports/new", {"headers": hx, "data": {**body_form, "col": ["id", "pnl"]}}),
        ("POST", f"/exports/{EXPORT_ID}/cancel", {"headers": hx}),
    ]


def assert_unavailable(response: Any, what: str) -> None:
    assert response.status_code == 503, f"{what}: {response.status_code} {response.text[:300]}"
    assert response.headers["Retry-After"] == "5", what
    if response.headers["content-type"].startswith("application/problem+json"):
        assert response.json()["code"] == "database_unavailable", what
    else:  # the page: its own HTML, naming the same code
        assert response.headers["content-type"].startswith("text/html"), what
        assert "database_unavailable" in response.text, what


def assert_outage(client: TestClient, api: Api) -> None:
    for method, path, kwargs in requests(api):
        assert_unavailable(client.request(method, path, **kwargs), f"{method} {path}")
    assert client.get("/healthz").json() == {"status": "ok"}
    # The node's counters are served through an outage, the database marked down.
    scraped = client.get("/metrics")
    assert scraped.status_code == 200, scraped.text[:300]
    assert "exportd_database_up 0.0" in scraped.text
    assert "exportd_queue_jobs" not in scraped.text
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"].startswith("unavailable")


def assert_no_route_answers_500(client: TestClient, api: Api) -> None:
    """Every route of the app, whatever it needs: nothing but a 503 of the outage."""
    auth = {**api.as_user("alice", plan="pro", admin=True), "HX-Request": "true"}
    cookie = {"Cookie": f"{COOKIE}={api.token('alice')}"}
    for route in api_routes(client.app.routes):  # type: ignore[attr-defined]
        if route.path in ("/readyz", "/metrics"):
            continue
        path = route.path.replace("{token}", download_token(api.settings))
        path = path.replace("{", "").replace("}", "")  # {export_id} -> export_id
        for method in route.methods - {"HEAD"}:
            response = client.request(method, path, headers={**auth, **cookie}, json={})
            what = f"{method} {route.path}"
            assert response.status_code < 500 or response.status_code == 503, what
            if response.status_code == 503:
                assert_unavailable(response, what)


def api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if hasattr(route, "original_router"):  # a router included in the app
            yield from api_routes(route.original_router.routes)
        elif isinstance(route, APIRoute):
            yield route


def api_for(database_url: str, tmp_path: Path, **overrides: Any) -> tuple[TestClient, Api]:
    settings = load_settings(
        database_url=database_url, storage_url=f"file://{tmp_path / 'files'}", **overrides
    )
    client = TestClient(create_app(settings, sources=fake_sources()))
    return client, Api(client, settings)


@pytest.mark.postgres
def test_postgres_where_nothing_listens(tmp_path: Path) -> None:
    client, api = api_for("postgresql://postgres@127.0.0.1:1/nowhere", tmp_path)
    with client:
        assert_outage(client, api)
        assert_no_route_answers_500(client, api)


@pytest.fixture
def pg_url() -> Iterator[str]:
    require_postgres()
    with fresh_pg_database() as url:
        yield url


def _admin(statement: sql.Composable) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(statement)


@pytest.mark.postgres
def test_postgres_database_dropped_under_a_running_app(pg_url: str, tmp_path: Path) -> None:
    client, api = api_for(pg_url, tmp_path)
    with client:
        assert client.get("/v1/exports", headers=api.as_user("alice")).status_code == 200
        name = pg_url.rpartition("/")[2]
        # FORCE terminates the app's pooled connections: the next use of each one fails
        # mid-conversation, and every reconnection finds no database.
        _admin(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        assert_outage(client, api)
        assert_no_route_answers_500(client, api)


@pytest.mark.postgres
def test_postgres_connections_killed_then_back(pg_url: str, tmp_path: Path) -> None:
    client, api = api_for(pg_url, tmp_path)
    with client:
        alice = api.as_user("alice")
        assert client.get("/v1/exports", headers=alice).status_code == 200
        name = pg_url.rpartition("/")[2]
        _admin(
            sql.SQL(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = {} AND pid <> pg_backend_pid()"
            ).format(sql.Literal(name))
        )
        # The pooled connection the request gets is dead: a 503, never a 500 ...
        assert_unavailable(client.get("/v1/exports", headers=alice), "after the kill")
        # ... and the pool reconnects for the next request: the outage was the kill.
        assert client.get("/v1/exports", headers=alice).status_code == 200


def test_sqlite_file_that_cannot_be_opened(tmp_path: Path) -> None:
    unopenable = tmp_path / "exportd.db"
    unopenable.mkdir()  # a directory where the file should be: "unable to open database"
    client, api = api_for(f"sqlite:///{unopenable}", tmp_path)
    with client:
        assert_outage(client, api)
        assert_no_route_answers_500(client, api)


def test_sqlite_locked_past_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "exportd.db"
    client, api = api_for(migrated_sqlite(path), tmp_path, sqlite_busy_timeout_ms=50)
    with client:
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # another writer that does not let go
        try:
            created = api.create("alice", plan="pro")
            assert_unavailable(created, "POST /v1/exports while locked")
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert api.create("alice", plan="pro").status_code == 202

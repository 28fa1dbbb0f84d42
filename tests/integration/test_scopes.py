"""API-key scopes on every route, and API keys in a namespace no JWT can enter (issue 22
item 8), on SQLite and PostgreSQL.

``SCOPE_OF`` is the contract: every ``/v1`` route of the app must be in it (or public),
and must declare exactly that scope, so a new route without one fails here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, routing
from fastapi.testclient import TestClient

from exportd.api.app import create_app
from exportd.api.deps import RequireScope
from exportd.auth.api_keys import ApiKeys
from exportd.auth.scopes import Scope
from exportd.config import Settings
from exportd.db import Database
from tests.support.api import Api
from tests.support.sources import fake_sources

R, W = Scope.EXPORTS_READ, Scope.EXPORTS_WRITE
DR, DW = Scope.DOCUMENTS_READ, Scope.DOCUMENTS_WRITE
TR, TW = Scope.DESTINATIONS_READ, Scope.DESTINATIONS_WRITE
OPS = Scope.OPS_READ
ADMIN = Scope.ADMIN

SCOPE_OF: dict[tuple[str, str], Scope] = {
    ("POST", "/v1/exports"): W,
    ("POST", "/v1/exports/batch"): W,
    ("GET", "/v1/exports"): R,
    ("GET", "/v1/exports/failed"): R,
    ("GET", "/v1/exports/{export_id}"): R,
    ("DELETE", "/v1/exports/{export_id}"): W,
    ("POST", "/v1/exports/{export_id}/cancel"): W,
    ("POST", "/v1/exports/{export_id}/retry"): W,
    ("GET", "/v1/exports/{export_id}/events"): R,
    ("GET", "/v1/exports/{export_id}/download"): R,
    ("POST", "/v1/exports/{export_id}/download-token"): R,  # a link downloads, no more
    ("GET", "/v1/exports/{export_id}/files"): R,
    ("GET", "/v1/exports/{export_id}/files/{name}"): R,
    ("POST", "/v1/exports/{export_id}/files/{name}/download-token"): R,
    ("GET", "/v1/exports/{export_id}/deliveries"): R,
    ("GET", "/v1/deliveries/failed"): R,
    ("POST", "/v1/deliveries/{delivery_id}/retry"): W,
    ("POST", "/v1/schedules"): W,
    ("GET", "/v1/schedules"): R,
    ("GET", "/v1/schedules/{schedule_id}"): R,
    ("PATCH", "/v1/schedules/{schedule_id}"): W,
    ("DELETE", "/v1/schedules/{schedule_id}"): W,
    ("POST", "/v1/schedules/{schedule_id}/run"): W,  # makes an export, as POST /v1/exports
    ("GET", "/v1/sources"): R,
    ("GET", "/v1/templates"): R,
    ("GET", "/v1/me/usage"): R,
    ("POST", "/v1/documents"): DW,
    ("GET", "/v1/documents"): DR,
    ("GET", "/v1/documents/default"): DR,
    ("GET", "/v1/documents/{document_id}"): DR,
    ("PUT", "/v1/documents/{document_id}"): DW,
    ("PATCH", "/v1/documents/{document_id}/default"): DW,
    ("DELETE", "/v1/documents/{document_id}"): DW,
    ("POST", "/v1/documents/{document_id}/preview"): DR,  # renders, changes nothing
    ("POST", "/v1/destinations"): TW,
    ("GET", "/v1/destinations"): TR,
    ("GET", "/v1/destinations/{destination_id}"): TR,
    ("PATCH", "/v1/destinations/{destination_id}"): TW,
    ("DELETE", "/v1/destinations/{destination_id}"): TW,
    ("POST", "/v1/destinations/{destination_id}/test"): TW,  # writes to the customer's storage
    ("GET", "/v1/plans"): ADMIN,
    ("PUT", "/v1/plans/{name}"): ADMIN,
    ("POST", "/v1/ops/cleanup"): ADMIN,
    ("POST", "/v1/admin/exports/bulk"): ADMIN,
    ("GET", "/v1/ops/export-ops"): OPS,
    ("GET", "/v1/ops/perf"): OPS,
    ("GET", "/v1/ops/console/overview"): OPS,
    ("GET", "/v1/ops/console/activity"): OPS,
    ("GET", "/v1/ops/console/tenants"): OPS,
    ("GET", "/v1/ops/console/admin-events"): OPS,
    ("GET", "/v1/ops/console/dead-letters/{kind}"): OPS,
    ("POST", "/v1/ops/console/dead-letters/{kind}/{action}"): ADMIN,
    ("GET", "/v1/ops/queues"): OPS,
    ("GET", "/v1/ops/queues/{name}"): OPS,
    ("POST", "/v1/ops/queues/{name}/pause"): ADMIN,
    ("POST", "/v1/ops/queues/{name}/resume"): ADMIN,
}
# No principal at all: the link is the credential; probes; the schema and its viewers.
PUBLIC = {
    ("GET", "/v1/downloads/{token}"),
    ("GET", "/.well-known/exportd-manifest-keys"),  # public keys, to check manifests
    ("GET", "/"),
    ("GET", "/metrics"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/redoc"),
}
# The web page signs users in with their JWT (a cookie session); an API key never works
# there, so its routes declare no scope.
PAGE = "/exports"


@pytest.fixture
def app(settings: Settings, db: Database) -> FastAPI:
    return create_app(settings, db=db, sources=fake_sources())


@pytest.fixture
def api(app: FastAPI, settings: Settings) -> Iterator[Api]:
    with TestClient(app) as client:
        yield Api(client, settings)


@pytest.fixture
def keys(db: Database) -> ApiKeys:
    return ApiKeys(db)


def declared(dependant: Any) -> set[Scope]:
    """Every scope a route's dependencies (at any depth) require."""
    found = set()
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, RequireScope):
            found.add(dependency.call.scope)
        found |= declared(dependency)
    return found


def routes_of(app: FastAPI) -> dict[tuple[str, str], set[Scope]]:
    table: dict[tuple[str, str], set[Scope]] = {}
    for context in routing.iter_route_contexts(app.routes):
        route = context.original_route
        methods = getattr(route, "methods", None) or set()
        dependant = getattr(route, "dependant", None)
        for method in methods - {"HEAD"}:
            table[(method, route.path)] = declared(dependant) if dependant else set()
    return table


def test_every_route_declares_the_scope_the_table_gives_it(app: FastAPI) -> None:
    routes = routes_of(app)
    scoped = {key for key in routes if key not in PUBLIC and not key[1].startswith(PAGE)}
    assert scoped == set(SCOPE_OF), "a route is missing from SCOPE_OF, or SCOPE_OF is stale"
    for key, scopes in routes.items():
        if key in SCOPE_OF:
            assert scopes == {SCOPE_OF[key]}, key
        else:
            assert scopes == set(), f"{key} is public or a page route, yet declares {scopes}"


# Path parameters that take one of a few values.
CHOICES = {"{kind}": "exports", "{action}": "retry"}


def _path(template: str) -> str:
    for name, value in CHOICES.items():
        template = template.replace(name, value)
    return re.sub(r"\{[a-z_]+\}", "0123456789abcdef0123456789abcdef", template)


def test_each_route_takes_its_scope_and_only_that_from_a_key(api: Api, keys: ApiKeys) -> None:
    wrong = []
    for (method, template), scope in SCOPE_OF.items():
        path = _path(template)
        others = sorted(str(s) for s in Scope if s not in (scope, ADMIN))
        without = keys.create(f"without-{method}-{template}", others or [str(R)])
        answer = api.client.request(method, path, headers={"X-API-Key": without})
        expected = "admin_required" if scope is ADMIN else "scope_missing"
        if (answer.status_code, answer.json().get("code")) != (403, expected):
            wrong.append(f"{method} {template} without {scope}: {answer.status_code} {answer.text}")
        only = keys.create(f"only-{method}-{template}", [str(scope)])
        answer = api.client.request(method, path, headers={"X-API-Key": only})
        refused = answer.status_code in (401, 403) and answer.json()["code"] in (
            "scope_missing",
            "admin_required",
        )
        if refused or answer.status_code >= 500:
            wrong.append(f"{method} {template} with {scope}: {answer.status_code} {answer.text}")
    assert not wrong, "\n".join(wrong)


def test_users_hold_every_scope_but_admin(api: Api) -> None:
    alice = api.as_user("alice")
    assert api.client.get("/v1/exports", headers=alice).status_code == 200
    assert api.create("alice").status_code == 202
    created = api.client.post(
        "/v1/documents", json={"title": "CV", "content": {"profile": {"name": "A"}}}, headers=alice
    )
    assert created.status_code == 201
    assert api.client.get("/v1/plans", headers=alice).json()["code"] == "admin_required"


def test_a_read_only_key_reads_but_cannot_create_cancel_or_delete(api: Api, keys: ApiKeys) -> None:
    reader = {"X-API-Key": keys.create("dashboard", ["exports:read"])}
    assert api.client.get("/v1/exports", headers=reader).status_code == 200
    assert api.client.get("/v1/sources", headers=reader).status_code == 200
    export_id = api.create("alice").json()["id"]
    refused = [
        api.client.post(
            "/v1/exports", json={"source": "trades", "format": "csv", "params": {}}, headers=reader
        ),
        api.client.delete(f"/v1/exports/{export_id}", headers=reader),
        api.client.post(f"/v1/exports/{export_id}/retry", headers=reader),
        api.client.post("/v1/documents", json={"title": "t", "content": {}}, headers=reader),
        api.client.get("/v1/documents", headers=reader),
    ]
    for response in refused:
        assert (response.status_code, response.json()["code"]) == (403, "scope_missing")
    # Nothing happened to alice's export.
    status = api.client.get(f"/v1/exports/{export_id}", headers=api.as_user("alice"))
    assert status.json()["status"] == "queued"


def test_a_jwt_cannot_enter_an_api_keys_namespace(api: Api, keys: ApiKeys) -> None:
    key = {"X-API-Key": keys.create("reader", ["documents:read", "documents:write"])}
    content = {"profile": {"name": "Service account"}}
    made = api.client.post("/v1/documents", json={"title": "K", "content": content}, headers=key)
    assert made.status_code == 201, made.text
    document_id = made.json()["id"]
    # The key still finds what it owns (its owner id did not change: no migration needed).
    assert api.client.get(f"/v1/documents/{document_id}", headers=key).status_code == 200
    impostor = api.as_user("apikey:reader")
    for path in ("/v1/documents", f"/v1/documents/{document_id}", "/v1/exports"):
        response = api.client.get(path, headers=impostor)
        assert (response.status_code, response.json()["code"]) == (401, "token_subject_reserved")
    namesake = api.client.get("/v1/documents", headers=api.as_user("reader")).json()
    assert namesake == []


def test_a_bulk_run_cannot_make_exports_for_a_key(api: Api) -> None:
    admin = api.as_user("root", plan="pro", admin=True)
    body = {
        "user_ids": ["alice", "apikey:reader"],
        "export": {"source": "trades", "format": "csv", "params": {}},
    }
    response = api.client.post("/v1/admin/exports/bulk", json=body, headers=admin)
    assert (response.status_code, response.json()["code"]) == (422, "request_invalid")
    too_long = {**body, "user_ids": ["u" * 256]}  # wider than owner_id
    response = api.client.post("/v1/admin/exports/bulk", json=too_long, headers=admin)
    assert (response.status_code, response.json()["code"]) == (422, "request_invalid")

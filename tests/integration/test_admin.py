"""API keys, plan administration and bulk exports, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from exportd.api.app import create_app
from exportd.auth.api_keys import ApiKeys
from exportd.config import Settings
from exportd.db import Database
from exportd.errors import RequestInvalid
from tests.support.api import Api
from tests.support.sources import fake_sources


@pytest.fixture
def api(settings: Settings, db: Database) -> Iterator[Api]:
    with TestClient(create_app(settings, db=db, sources=fake_sources())) as client:
        yield Api(client, settings)


@pytest.fixture
def keys(db: Database) -> ApiKeys:
    return ApiKeys(db)


def test_api_keys_authenticate_and_can_be_revoked(api: Api, keys: ApiKeys, db: Database) -> None:
    key = keys.create("billing-service", ["admin"])
    assert key.startswith("exk_")
    [info] = keys.list_keys()
    secret = key.removeprefix("exk_").partition("_")[2]  # the secret may contain "_"
    assert secret not in str(info)  # only a hash is stored
    export_id = api.create("alice").json()["id"]
    for headers in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
        seen = api.client.get(f"/v1/exports/{export_id}", headers=headers)
        assert seen.status_code == 200
        assert seen.json()["owner_id"] == "alice"
    assert keys.list_keys()[0].last_used_at is not None
    keys.revoke(info.id)
    revoked = api.client.get(f"/v1/exports/{export_id}", headers={"X-API-Key": key})
    assert (revoked.status_code, revoked.json()["code"]) == (401, "api_key_revoked")
    forged = api.client.get("/v1/exports", headers={"X-API-Key": key[:-4] + "AAAA"})
    assert (forged.status_code, forged.json()["code"]) == (401, "api_key_invalid")


def test_unknown_scopes_are_refused(keys: ApiKeys) -> None:
    with pytest.raises(RequestInvalid):
        keys.create("x", ["root"])


def test_read_scope_is_not_admin(api: Api, keys: ApiKeys) -> None:
    key = keys.create("dashboard", ["exports:read"])
    response = api.client.get("/v1/plans", headers={"X-API-Key": key})
    assert (response.status_code, response.json()["code"]) == (403, "admin_required")


def test_admins_read_and_edit_plans(api: Api) -> None:
    admin = api.as_user("root", plan="pro", admin=True)
    assert api.client.get("/v1/plans", headers=api.as_user("alice")).status_code == 403
    plans = {p["name"]: p for p in api.client.get("/v1/plans", headers=admin).json()}
    assert plans["free"]["max_active_jobs"] == 3
    assert plans["free"]["watermark"] is True
    assert plans["pro"]["watermark"] is False
    changed = {**plans["free"], "max_active_jobs": 1}
    del changed["name"]
    assert api.client.put("/v1/plans/free", json=changed, headers=admin).status_code == 200
    assert api.create("alice").status_code == 202
    assert api.create("alice").json()["code"] == "active_exports_limit"
    bad = api.client.put(
        "/v1/plans/free", json={**changed, "formats_allowed": ["exe"]}, headers=admin
    )
    assert bad.status_code == 422


def test_bulk_export_creates_one_export_per_user(api: Api) -> None:
    admin = api.as_user("root", plan="pro", admin=True)
    body = {
        "user_ids": [f"user-{i}" for i in range(250)],
        "plan": "free",
        "export": {"source": "trades", "format": "csv", "params": {"symbol": "X"}},
    }
    done = api.client.post("/v1/admin/exports/bulk", json=body, headers=admin)
    assert done.status_code == 202, done.text
    ids = done.json()["export_ids"]
    assert len(set(ids)) == 250
    mine = api.client.get("/v1/exports", headers=api.as_user("user-7")).json()["items"]
    assert len(mine) == 1
    assert mine[0]["owner_id"] == "user-7"
    assert (
        api.client.post(
            "/v1/admin/exports/bulk", json=body, headers=api.as_user("alice")
        ).status_code
        == 403
    )


def test_plan_values_the_columns_cannot_hold_are_refused_not_a_500(api: Api) -> None:
    admin = api.as_user("root", plan="pro", admin=True)
    plan = api.client.get("/v1/plans", headers=admin).json()[0]
    del plan["name"]
    assert api.client.put("/v1/plans/ok", json=plan, headers=admin).status_code == 200
    refused = [
        api.client.put(f"/v1/plans/{'n' * 65}", json=plan, headers=admin),  # name is VARCHAR(64)
        api.client.put("/v1/plans/big", json={**plan, "max_rows": 2**53}, headers=admin),
        api.client.put(
            "/v1/plans/big", json={**plan, "storage_quota_bytes": 10**20}, headers=admin
        ),
        api.client.put("/v1/plans/big", json={**plan, "daily_export_bytes": 2**64}, headers=admin),
    ]
    for response in refused:
        assert (response.status_code, response.json()["code"]) == (422, "request_invalid")
    # The largest count every JSON client reads exactly (JavaScript's MAX_SAFE_INTEGER).
    largest = {**plan, "max_rows": 2**53 - 1}
    assert api.client.put("/v1/plans/big", json=largest, headers=admin).status_code == 200

"""Answers schemathesis found disagreeing with the OpenAPI document (issue 23), refused
before any database is read: a body that is not UTF-8, a method a path does not take,
a boolean that is not JSON true or false."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from exportd.api.app import create_app
from exportd.config import load_settings
from exportd.db import create_database
from tests.support.api import Api
from tests.support.sources import fake_sources


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    folder: Path = tmp_path_factory.mktemp("refusals")
    settings = load_settings(
        database_url=f"sqlite:///{folder}/x.db", storage_url=f"file://{folder}/files"
    )
    db = create_database(settings)
    yield Api(TestClient(create_app(settings, db=db, sources=fake_sources())), settings)
    db.dispose()


def test_a_body_that_is_not_utf8_is_json_invalid_not_a_bare_400(api: Api) -> None:
    sent = api.client.post(
        "/v1/exports",
        content=b'{"source": "tr\xe9des"}',
        headers={**api.as_user("alice"), "Content-Type": "application/json"},
    )
    assert sent.status_code == 422
    assert sent.headers["content-type"] == "application/problem+json"
    assert sent.json()["code"] == "json_invalid"
    assert "not UTF-8 at byte 15" in sent.json()["detail"]


def test_a_method_a_path_does_not_take_is_405_naming_every_one_it_does(api: Api) -> None:
    # GET and DELETE are two routes: Starlette named the first one's methods only.
    refused = api.client.put("/v1/exports/abc", headers=api.as_user("alice"))
    assert refused.status_code == 405
    assert refused.json()["code"] == "method_not_allowed"
    assert set(refused.headers["allow"].split(", ")) == {"GET", "DELETE"}
    # A path of its own is not the template it also matches.
    refused = api.client.put("/v1/exports/failed", headers=api.as_user("alice"))
    assert refused.headers["allow"] == "GET"


@pytest.mark.parametrize(
    ("path", "method", "body", "field", "admin"),
    [
        ("/v1/plans/free", "PUT", {"watermark": 0}, "body.watermark", True),
        ("/v1/plans/free", "PUT", {"max_rows": False}, "body.max_rows", True),
        ("/v1/plans/free", "PUT", {"max_rows": "5"}, "body.max_rows", True),
        ("/v1/exports", "POST", {"options": {"bom": 1}}, "body.options.bom", False),
        ("/v1/exports", "POST", {"options": {"keep_partial": "yes"}},
         "body.options.keep_partial", False),
    ],
)  # fmt: skip
def test_a_boolean_is_json_true_or_false_and_nothing_else(
    api: Api, path: str, method: str, body: dict[str, object], field: str, admin: bool
) -> None:
    plan = {"max_active_jobs": 3, "max_batch_size": 10, "storage_quota_bytes": 1,
            "daily_export_bytes": 1, "max_rows": 1, "retention_days": 1,
            "formats_allowed": ["csv"], "watermark": True}  # fmt: skip
    base = plan if admin else {"source": "trades", "format": "csv"}
    sent = api.client.request(
        method, path, json={**base, **body}, headers=api.as_user("root", admin=admin)
    )
    assert sent.status_code == 422, sent.text
    assert sent.json()["code"] == "request_invalid"
    assert [e["field"] for e in sent.json()["errors"]] == [field]

"""The resume store through the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from exportd.api.app import create_app
from exportd.config import Settings
from exportd.db import Database
from tests.support.api import Api
from tests.support.sources import fake_sources


@pytest.fixture
def api(settings: Settings, db: Database) -> Iterator[Api]:
    limited = settings.model_copy(update={"max_document_sections": 4})
    with TestClient(create_app(limited, db=db, sources=fake_sources())) as client:
        yield Api(client, limited)


def resume(name: str = "Ada Lovelace", **extra: Any) -> dict[str, Any]:
    return {
        "profile": {"name": name, "headline": "Analyst", "email": "ada@example.com"},
        "work": [{"organisation": "Analytical Engines", "role": "Programmer", "start": "1842-09"}],
        "skills": ["Mathematics", "Notes"],
        **extra,
    }


def post(api: Api, user: str, title: str, content: dict[str, Any]) -> Any:
    return api.client.post(
        "/v1/documents", json={"title": title, "content": content}, headers=api.as_user(user)
    )


def test_first_document_is_the_default(api: Api) -> None:
    first = post(api, "alice", "CV", resume())
    assert first.status_code == 201
    assert first.json()["is_default"] is True
    assert first.json()["sections"] == ["profile", "work", "skills"]
    second = post(api, "alice", "CV 2", resume("Ada"))
    assert second.json()["is_default"] is False
    headers = api.as_user("alice")
    assert (
        api.client.get("/v1/documents/default", headers=headers).json()["id"] == first.json()["id"]
    )
    made = api.client.patch(f"/v1/documents/{second.json()['id']}/default", headers=headers)
    assert made.json()["is_default"] is True
    listed = api.client.get("/v1/documents", headers=headers).json()
    assert [d["is_default"] for d in listed].count(True) == 1


def test_validation_names_the_fields_and_counts_sections(api: Api) -> None:
    missing = post(api, "alice", "CV", {"profile": {"headline": "x"}, "work": [{"role": "r"}]})
    assert missing.status_code == 422
    assert missing.json()["code"] == "document_invalid"
    fields = {e["field"] for e in missing.json()["errors"]}
    assert {"content.profile.name", "content.work.0.organisation"} <= fields
    crowded = post(api, "alice", "CV", resume(sections=[{"title": "A"}, {"title": "B"}]))
    assert crowded.status_code == 422
    assert crowded.json()["code"] == "too_many_sections"
    assert "at most 4 sections" in crowded.json()["detail"]


def test_update_replaces_content(api: Api) -> None:
    doc = post(api, "alice", "CV", resume()).json()
    headers = api.as_user("alice")
    updated = api.client.put(
        f"/v1/documents/{doc['id']}", json={"content": resume("Ada King")}, headers=headers
    )
    assert updated.status_code == 200
    assert updated.json()["content"]["profile"]["name"] == "Ada King"
    assert updated.json()["title"] == "CV"
    bad = api.client.put(
        f"/v1/documents/{doc['id']}", json={"content": {"profile": {}}}, headers=headers
    )
    assert bad.status_code == 422
    assert (
        api.client.get(f"/v1/documents/{doc['id']}", headers=headers).json()["content"]["profile"][
            "name"
        ]
        == "Ada King"
    )


def test_deleting_the_default_promotes_the_latest_updated(api: Api) -> None:
    headers = api.as_user("alice")
    first = post(api, "alice", "one", resume()).json()
    second = post(api, "alice", "two", resume()).json()
    third = post(api, "alice", "three", resume()).json()
    api.client.put(f"/v1/documents/{second['id']}", json={"content": resume()}, headers=headers)
    assert api.client.delete(f"/v1/documents/{first['id']}", headers=headers).status_code == 204
    default = api.client.get("/v1/documents/default", headers=headers).json()
    assert default["id"] == second["id"]
    assert third["id"] != default["id"]


def test_deleting_a_document_cancels_its_pending_exports(api: Api) -> None:
    headers = api.as_user("bob", plan="pro")
    doc = api.client.post(
        "/v1/documents", json={"title": "CV", "content": resume()}, headers=headers
    ).json()
    other = api.client.post(
        "/v1/documents", json={"title": "CV2", "content": resume()}, headers=headers
    ).json()

    def export_of(document_id: str) -> str:
        body = {"source": "resume", "format": "pdf", "params": {"document_id": document_id}}
        response = api.client.post("/v1/exports", json=body, headers=headers)
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    mine, unrelated = export_of(doc["id"]), export_of(other["id"])
    deleted = api.client.delete(f"/v1/documents/{doc['id']}", headers=headers)
    assert deleted.headers["x-cancelled-exports"] == "1"
    assert api.client.get(f"/v1/exports/{mine}", headers=headers).json()["status"] == "cancelled"
    assert api.client.get(f"/v1/exports/{unrelated}", headers=headers).json()["status"] == "queued"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/documents/{id}"),
        ("PUT", "/v1/documents/{id}"),
        ("PATCH", "/v1/documents/{id}/default"),
        ("DELETE", "/v1/documents/{id}"),
    ],
)
def test_another_users_document_is_not_found(api: Api, method: str, path: str) -> None:
    doc = post(api, "alice", "CV", resume()).json()
    response = api.client.request(
        method,
        path.format(id=doc["id"]),
        json={"content": resume()},
        headers=api.as_user("mallory"),
    )
    assert response.status_code == 404
    assert response.json()["code"] == "document_not_found"
    assert "Ada" not in response.text
    assert api.client.get("/v1/documents", headers=api.as_user("mallory")).json() == []


def test_a_preview_is_html_at_once_and_rate_limited(settings: Settings, db: Database) -> None:
    app = create_app(
        settings.model_copy(update={"preview_per_minute": 2}), db=db, sources=fake_sources()
    )
    with TestClient(app) as client:
        api = Api(client, settings)
        doc = post(api, "alice", "CV", resume(work=[{"organisation": "Acme", "role": "Dev"}]))
        url = f"/v1/documents/{doc.json()['id']}/preview"
        modern = client.post(url, json={"template": "modern"}, headers=api.as_user("alice"))
        assert modern.status_code == 200
        assert modern.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in modern.headers["content-security-policy"]
        assert "Ada Lovelace" in modern.text
        assert "PREVIEW" in modern.text  # alice is on the free plan
        classic = client.post(url, json={}, headers=api.as_user("alice"))
        assert classic.status_code == 200
        assert classic.text.count("<svg") == 1  # one page, as SVG
        third = client.post(url, json={"template": "nope"}, headers=api.as_user("alice"))
        assert (third.status_code, third.json()["code"]) == (422, "template_unknown")
        limited = client.post(url, json={}, headers=api.as_user("alice"))
        assert (limited.status_code, limited.json()["code"]) == (429, "preview_rate_limited")
        assert int(limited.headers["retry-after"]) >= 1
        stranger = client.post(url, json={}, headers=api.as_user("mallory"))
        assert stranger.status_code == 404


# -- JSON Resume ---------------------------------------------------------------------------


@pytest.fixture
def roomy(settings: Settings, db: Database) -> Iterator[Api]:
    """The default section limit (20): a full JSON Resume maps to 11 sections."""
    with TestClient(create_app(settings, db=db, sources=fake_sources())) as client:
        yield Api(client, settings)


def a_json_resume(**extra: Any) -> dict[str, Any]:
    return {
        "basics": {"name": "Richard Hendriks", "label": "Programmer", "url": "https://rh.example"},
        "work": [{"name": "Pied Piper", "position": "CEO", "startDate": "2013-12-01"}],
        "languages": [{"language": "English", "fluency": "Native speaker"}],
        **extra,
    }


def test_a_json_resume_is_stored_as_a_resume_and_can_replace_one(roomy: Api) -> None:
    headers = roomy.as_user("alice")
    created = roomy.client.post(
        "/v1/documents", json={"title": "Imported", "jsonresume": a_json_resume()}, headers=headers
    )
    assert created.status_code == 201, created.text
    doc = created.json()
    assert doc["content"]["profile"]["links"] == [{"label": "Website", "url": "https://rh.example"}]
    assert doc["content"]["work"][0]["start"] == "2013-12"
    assert doc["sections"] == ["profile", "work", "Languages"]
    again = roomy.client.get(f"/v1/documents/{doc['id']}", headers=headers).json()
    assert again["content"] == doc["content"]
    replaced = roomy.client.put(
        f"/v1/documents/{doc['id']}",
        json={"jsonresume": a_json_resume(basics={"name": "Richard"})},
        headers=headers,
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["content"]["profile"] == {"name": "Richard", "links": []}
    assert replaced.json()["title"] == "Imported"


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"title": "CV", "content": resume(), "jsonresume": a_json_resume()}, ["body"]),
        ({"title": "CV"}, ["body"]),
        ({"title": "CV", "content": None, "jsonresume": None}, ["body.content", "body.jsonresume"]),
        ({"title": "CV", "content": None, "jsonresume": a_json_resume()}, ["body.content"]),
    ],
    ids=["both", "neither", "both-null", "one-null"],
)
def test_content_and_jsonresume_are_exactly_one_of_them(
    roomy: Api, body: dict[str, Any], fields: list[str]
) -> None:
    refused = roomy.client.post("/v1/documents", json=body, headers=roomy.as_user("alice"))
    assert refused.status_code == 422
    assert refused.json()["code"] == "request_invalid"
    assert [e["field"] for e in refused.json()["errors"]] == fields
    if fields == ["body"]:
        message = "Value error, give exactly one of `content` and `jsonresume`"
        assert refused.json()["errors"][0]["message"] == message
    assert roomy.client.get("/v1/documents", headers=roomy.as_user("alice")).json() == []


def test_an_invalid_json_resume_is_a_422_pointing_at_its_field(roomy: Api) -> None:
    headers = roomy.as_user("alice")
    bad = a_json_resume(work=[{"name": "Pied Piper", "position": "CEO", "endDate": "2014-13"}])
    refused = roomy.client.post(
        "/v1/documents", json={"title": "CV", "jsonresume": bad}, headers=headers
    )
    assert refused.status_code == 422
    problem = refused.json()
    assert problem["code"] == "jsonresume_invalid"
    assert problem["errors"] == [
        {
            "field": "jsonresume.work.0.endDate",
            "pointer": "/work/0/endDate",
            "message": "Value error, 2014-13 is not a date: there is no month 13",
        }
    ]
    not_an_object = roomy.client.post(
        "/v1/documents", json={"title": "CV", "jsonresume": [a_json_resume()]}, headers=headers
    )
    assert not_an_object.status_code == 422
    assert not_an_object.json()["errors"][0]["field"] == "body.jsonresume"
    doc = post(roomy, "alice", "CV", resume()).json()
    too_long = a_json_resume(references=[{"name": "Erlich", "reference": "x" * 501}])
    kept = roomy.client.put(
        f"/v1/documents/{doc['id']}", json={"jsonresume": too_long}, headers=headers
    )
    assert kept.status_code == 422
    assert [e["pointer"] for e in kept.json()["errors"]] == ["/references/0"]
    assert roomy.client.get(f"/v1/documents/{doc['id']}", headers=headers).json() == doc


@pytest.mark.parametrize("start", ["2020-13", "2020-00", "2020-1", "20201"])
def test_a_period_is_a_year_or_a_real_month(api: Api, start: str) -> None:
    work = {"organisation": "A", "role": "Dev"}
    refused = post(api, "alice", "CV", resume(work=[{**work, "start": start}]))
    assert refused.status_code == 422
    assert "start" in refused.json()["errors"][0]["field"]
    fine = post(api, "alice", "CV", resume(work=[{**work, "start": "2020-12"}]))
    assert fine.status_code == 201, fine.text

"""Resume limits at write time: every text field, every list and the whole document,
each refused with a 422 that names the field — never accepted, then slow to render."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from exportd.db.tables import documents
from exportd.documents.models import MAX_DOCUMENT_BYTES
from tests.support.api import Api
from tests.support.resumes import a_resume, api_for, largest_resume, preview, store


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    yield from api_for(tmp_path)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda c: c["work"][0]["highlights"].append("x" * 501), "content.work.0.highlights.6"),
        (lambda c: c["skills"].append("x" * 101), "content.skills.3"),
        (
            lambda c: c.update(sections=[{"title": "Talks", "items": ["ok", "x" * 501]}]),
            "content.sections.0.items.1",
        ),
        (lambda c: c["work"][1].update(highlights=["h"] * 31), "content.work.1.highlights"),
        (lambda c: c["profile"].update(summary="x" * 5001), "content.profile.summary"),
    ],
)
def test_a_field_over_its_limit_is_refused_naming_it(api: Api, change: Any, field: str) -> None:
    content = a_resume("Ada")
    change(content)
    refused = store(api, "alice", content)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "document_invalid"
    assert [e["field"] for e in refused.json()["errors"]] == [field]
    # The same on an update; the stored document is unchanged.
    document = store(api, "alice", a_resume("Ada")).json()
    updated = api.client.put(
        f"/v1/documents/{document['id']}", json={"content": content}, headers=api.as_user("alice")
    )
    assert (updated.status_code, updated.json()["code"]) == (422, "document_invalid")
    assert [e["field"] for e in updated.json()["errors"]] == [field]


def test_a_900_kb_resume_is_refused_at_once(api: Api) -> None:
    """Accepted before (no limit on a highlight's length), then 7 s of Typst per preview."""
    content = a_resume("Ada")
    content["work"][0]["highlights"] = ["word " * 180_000]
    started = time.monotonic()
    refused = store(api, "alice", content)
    assert (refused.status_code, refused.json()["code"]) == (422, "document_invalid")
    assert refused.json()["errors"][0]["field"] == "content.work.0.highlights.0"
    assert time.monotonic() - started < 2


def test_a_document_over_the_total_size_is_refused(api: Api) -> None:
    content = largest_resume()
    content["sections"][0]["items"].append("x" * 500)  # every field fits; the whole does not
    refused = store(api, "alice", content)
    assert (refused.status_code, refused.json()["code"]) == (422, "document_too_large")
    assert refused.json()["errors"][0]["field"] == "content"
    assert f"at most {MAX_DOCUMENT_BYTES}" in refused.json()["detail"]


def test_a_stored_document_over_new_limits_still_reads_and_previews_say_why(api: Api) -> None:
    document = store(api, "alice", a_resume("Ada")).json()
    oversized = a_resume("Ada")
    oversized["skills"] = ["x" * 1000]  # written before the limits existed
    with api.client.app.state.db.write() as conn:  # type: ignore[attr-defined]
        conn.execute(
            update(documents).where(documents.c.id == document["id"]).values(content=oversized)
        )
    read = api.client.get(f"/v1/documents/{document['id']}", headers=api.as_user("alice"))
    assert read.status_code == 200
    assert read.json()["sections"] == ["profile", "work", "skills"]
    refused = preview(api, "alice", document["id"])
    assert (refused.status_code, refused.json()["code"]) == (422, "document_invalid")
    assert refused.json()["errors"][0]["field"] == "content.skills.0"

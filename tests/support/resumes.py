"""Resumes for the document tests: a typical one, the costliest valid one, and an app to
store and preview them on (SQLite, previews unthrottled)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from exportd.api.app import create_app
from exportd.config import load_settings
from exportd.db import create_database
from exportd.documents.models import MAX_DOCUMENT_BYTES
from tests.support.api import Api
from tests.support.databases import migrated_sqlite
from tests.support.sources import fake_sources


def api_for(tmp_path: Path, **overrides: Any) -> Iterator[Api]:
    settings = load_settings(
        database_url=migrated_sqlite(tmp_path / "exportd.db"), preview_per_minute=1000, **overrides
    )
    db = create_database(settings)
    with TestClient(create_app(settings, db=db, sources=fake_sources())) as client:
        yield Api(client, settings)
    db.dispose()


def a_resume(name: str) -> dict[str, Any]:
    return {
        "profile": {"name": name, "headline": "Analyst", "summary": "Wrote programs. " * 20},
        "work": [
            {
                "organisation": f"Org {i}",
                "role": "Engineer",
                "start": "2010",
                "highlights": [f"Shipped thing {j} with care" for j in range(6)],
            }
            for i in range(6)
        ],
        "skills": ["Python", "Typst", "SQL"],
    }


def stored_size(content: dict[str, Any]) -> int:
    return len(json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode())


def largest_resume() -> dict[str, Any]:
    """The costliest valid document we know for Typst: every field at its limit with
    unbreakable words (no break opportunity: the line breaker's worst case), filled with
    highlights up to the total size limit."""
    rnd = random.Random(7)

    def word(n: int) -> str:
        return "".join(rnd.choice("abcdefghijklmnop") for _ in range(n))

    content: dict[str, Any] = {
        "profile": {
            "name": word(200),
            "headline": word(300),
            "location": word(200),
            "summary": word(5000),
            "links": [{"label": word(100), "url": "https://" + word(492)} for _ in range(5)],
        },
        "education": [{"institution": word(200), "notes": word(2000)}],
        "skills": [word(100) for _ in range(20)],
        "sections": [{"title": word(100), "items": [word(500) for _ in range(4)]}],
        "work": [],
    }
    while stored_size(content) <= MAX_DOCUMENT_BYTES:
        content["work"].append({"organisation": word(200), "role": word(200), "highlights": []})
        while len(content["work"][-1]["highlights"]) < 30:
            content["work"][-1]["highlights"].append(word(500))
            if stored_size(content) > MAX_DOCUMENT_BYTES:
                content["work"][-1]["highlights"].pop()
                return content
    raise AssertionError("unreachable")


def store(api: Api, user: str, content: dict[str, Any]) -> Any:
    return api.client.post(
        "/v1/documents", json={"title": "CV", "content": content}, headers=api.as_user(user)
    )


def preview(api: Api, user: str, document_id: str, template: str = "classic") -> Any:
    url = f"/v1/documents/{document_id}/preview"
    return api.client.post(url, json={"template": template}, headers=api.as_user(user))

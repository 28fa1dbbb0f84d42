"""Oversized bodies are refused before they are read (413), declared or chunked; too
many requests get 429 with Retry-After."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from exportd.config import Settings
from exportd.db import Database
from tests.support.artifacts import World, world_for


@pytest.fixture
def world(settings: Settings, db: Database, tmp_path: Path) -> Iterator[World]:
    with world_for(settings, db, tmp_path, max_request_bytes=64 * 1024, preview_per_minute=2) as w:
        yield w


def test_a_declared_oversized_body_is_refused_at_once(world: World) -> None:
    body = b'{"title": "x", "content": {"profile": {"name": "' + b"x" * 100_000 + b'"}}}'
    response = world.api.client.post(
        "/v1/documents",
        content=body,
        headers={**world.api.as_user("alice"), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "body_too_large"


def test_a_chunked_oversized_body_is_refused_as_it_passes_the_limit(world: World) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"title": "x", "content": {"profile": {"name": "'
        for _ in range(20):
            yield b"x" * 10_000
        yield b'"}}}'

    response = world.api.client.post(
        "/v1/documents",
        content=chunks(),
        headers={**world.api.as_user("alice"), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"
    listed = world.api.client.get("/v1/documents", headers=world.api.as_user("alice"))
    assert listed.json() == []  # nothing half-written


def test_a_body_under_the_limit_is_served(world: World) -> None:
    response = world.api.client.post(
        "/v1/documents",
        json={"title": "CV", "content": {"profile": {"name": "Alice"}}},
        headers=world.api.as_user("alice"),
    )
    assert response.status_code == 201


def test_previews_past_the_rate_get_429_with_retry_after(world: World) -> None:
    headers = world.api.as_user("alice")
    document = world.api.client.post(
        "/v1/documents",
        json={"title": "CV", "content": {"profile": {"name": "Alice"}}},
        headers=headers,
    ).json()
    url = f"/v1/documents/{document['id']}/preview"
    codes = [
        world.api.client.post(url, json={"template": "classic"}, headers=headers).status_code
        for _ in range(3)
    ]
    assert codes == [200, 200, 429]
    refused = world.api.client.post(url, json={"template": "classic"}, headers=headers)
    assert refused.json()["code"] == "preview_rate_limited"
    assert int(refused.headers["Retry-After"]) > 0

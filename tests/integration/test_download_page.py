"""The page an emailed download link opens (/exports/downloads/<token>): mail scanners
open it first, with GET and HEAD, and spend nothing; the user's button (a POST from the
page itself) downloads the file once. On SQLite and PostgreSQL.
tests/e2e/test_delivery.py follows a link from a real email the same way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from exportd.api.security_headers import PAGE_CSP
from exportd.config import Settings
from exportd.db import Database
from exportd.db.tables import exports
from tests.support.artifacts import CONTENT, World, completed_export, world_for

# What Safe Links and the like send: no cookie, no Sec-Fetch-* (not a browser).
SCANNER = {"User-Agent": "Mozilla/5.0 (compatible; link scanner)"}
# What a browser sends when the page's own form is submitted.
BUTTON = {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"}


@pytest.fixture
def world(settings: Settings, db: Database, tmp_path: Path) -> Iterator[World]:
    with world_for(settings, db, tmp_path) as w:
        yield w


def page_link(world: World, export_id: str) -> str:
    """The landing page of a fresh link: the email's form of what the API hands out."""
    response = world.api.client.post(
        f"/v1/exports/{export_id}/download-token", headers=world.api.as_user("alice")
    )
    assert response.status_code == 201, response.text
    return str(response.json()["url"]).replace("/v1/downloads/", "/exports/downloads/")


def downloads_of(world: World, export_id: str) -> int:
    with world.db.read() as conn:
        return int(
            conn.execute(
                select(exports.c.download_count).where(exports.c.id == export_id)
            ).scalar_one()
        )


def test_a_scanner_opens_the_page_and_the_user_still_downloads_once(world: World) -> None:
    export_id = completed_export(world)
    url = page_link(world, export_id)
    client = world.api.client

    for _ in range(3):  # scanners, previews, the user's own first look
        seen = client.get(url, headers=SCANNER)
        assert seen.status_code == 200
        assert seen.headers["content-type"].startswith("text/html")
        assert "trades-ü.csv" in seen.text
        assert f"{len(CONTENT)} B" in seen.text
        assert f'<form method="post" action="{url}">' in seen.text
        assert client.head(url, headers=SCANNER).status_code == 200
    assert downloads_of(world, export_id) == 0

    got = client.post(url, headers=BUTTON)
    assert (got.status_code, got.content) == (200, CONTENT)
    assert got.headers["content-disposition"].startswith("attachment;")
    assert downloads_of(world, export_id) == 1

    again = client.post(url, headers=BUTTON)
    assert again.status_code == 410
    assert "(download_token_used)" in again.text
    assert client.get(url).status_code == 410  # the page says so too
    # One token behind both doors: the API's link is spent with it.
    api_url = url.replace("/exports/downloads/", "/v1/downloads/")
    assert client.get(api_url).json()["code"] == "download_token_used"
    assert downloads_of(world, export_id) == 1


def test_the_page_keeps_the_token_to_itself(world: World) -> None:
    url = page_link(world, completed_export(world))
    for response in (world.api.client.get(url), world.api.client.head(url)):
        headers = response.headers
        assert headers["content-security-policy"] == PAGE_CSP  # nothing from elsewhere
        assert headers["referrer-policy"] == "same-origin"  # no Referer to other sites
        assert headers["cache-control"] == "no-store"
        assert headers["x-robots-tag"] == "noindex"
        assert headers["x-frame-options"] == "DENY"
    page = world.api.client.get(url).text
    assert "<script" not in page
    assert 'href="http' not in page
    assert 'src="http' not in page


def test_another_sites_form_cannot_spend_it(world: World) -> None:
    export_id = completed_export(world)
    url = page_link(world, export_id)
    for headers in (
        {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "same-site", "Origin": "https://app.testserver"},
        {"Origin": "https://evil.example"},  # an older browser: no Sec-Fetch-Site
        {"Origin": "null"},  # a sandboxed frame, a redirect from elsewhere
        {"Referer": "https://evil.example/page"},
    ):
        refused = world.api.client.post(url, headers=headers)
        assert refused.status_code == 403, headers
        assert "(csrf_failed)" in refused.text
    assert downloads_of(world, export_id) == 0
    assert world.api.client.post(url, headers=BUTTON).content == CONTENT  # still unspent


def test_a_bad_or_expired_link_says_so_without_a_form(world: World) -> None:
    url = page_link(world, completed_export(world))
    token_id, expiry, signature = url.rsplit("/", 1)[1].split(".")
    forged = f"/exports/downloads/{token_id}.{expiry}.{'A' * len(signature)}"
    for method in ("GET", "HEAD", "POST"):
        answer = world.api.client.request(method, forged, headers=BUTTON)
        assert answer.status_code == 403
    assert "(download_token_invalid)" in world.api.client.get(forged).text
    assert "<form" not in world.api.client.get(forged).text
    world.clock.advance(61)
    expired = world.api.client.get(url)
    assert expired.status_code == 410
    assert "(download_token_expired)" in expired.text
    assert world.api.client.post(url, headers=BUTTON).status_code == 410


def test_a_plain_client_may_press_the_button(world: World) -> None:
    # No Origin, Referer or Sec-Fetch-Site: not a browser, so no other site's page either.
    url = page_link(world, completed_export(world))
    assert world.api.client.post(url).content == CONTENT

"""The page while the database is away, in headless Chromium against a live server: an
action answers 503 and the page shows its notice (htmx leaves an error response unshown
unless exportd.js lets it through); once the database is back, the same action works.
(A full load's own 503 page: tests/integration/test_database_outage.py.)"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from exportd.db import Database
from exportd.demo.tables import create_demo_tables, seed_trades
from tests.support.live import Live, live_exportd

pytestmark = pytest.mark.slow


def _seed(db: Database) -> None:
    with db.write() as conn:
        create_demo_tables(conn)
        seed_trades(conn, "alice", 20)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    env = {"EXPORTD_PAGE_SIGN_IN_DEMO": "true", "EXPORTD_SQLITE_BUSY_TIMEOUT_MS": "300"}
    with live_exportd(tmp_path, seed=_seed, env=env) as server:
        yield server


@contextmanager
def locked(live: Live) -> Iterator[None]:
    """Another writer holds the database past the busy timeout: every write fails."""
    holder = sqlite3.connect(live.database_url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_the_page_shows_the_outage_and_recovers(browser: Any, live: Live) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(f"{live.url}/exports")
        page.get_by_role("button", name="Sign in as alice").click()
        expect(page.get_by_role("heading", name="New export")).to_be_visible()
        page.get_by_label("What to export").select_option("trades")
        expect(page.get_by_label("Symbol", exact=True)).to_be_visible()
        statuses: list[int] = []
        page.on("response", lambda r: statuses.append(r.status) if r.url.endswith("/new") else None)
        with locked(live):
            page.get_by_role("button", name="Export", exact=True).click()
            expect(page.locator("#notice")).to_contain_text("database_unavailable")
        assert statuses == [503]
        page.get_by_role("button", name="Export", exact=True).click()
        expect(page.locator("#notice")).to_contain_text("Queued trades as CSV")
    finally:
        context.close()

"""The operator's console (/exports/admin) in headless Chromium against a live server and
worker: a running job with its memory, the day's charts, dead letters found and all
retried, at desktop and phone width, axe-clean and within the page's CSP."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy import insert

from exportd.auth.principal import Principal
from exportd.config import load_settings
from exportd.db import Database
from exportd.db.tables import export_events
from exportd.demo.sources import demo_sources
from exportd.demo.tables import create_demo_tables, seed_trades
from exportd.errors import ErrorInfo
from exportd.exports.lifecycle import record_outcome
from exportd.exports.models import ExportRequest
from exportd.exports.service import ExportService
from exportd.queue import JobStore
from exportd.queue.app import WorkerContext
from exportd.queue.models import Claimed, Outcome
from exportd.sources import SourceRegistry
from tests.support.browser import axe_violations, csp_violations, screenshot_dir
from tests.support.live import Live, live_exportd

pytestmark = pytest.mark.slow

DEAD = {"alice": 7, "carol": 3}
RUNNING = re.compile(r"#\d+ exportd\.export [\d.]+ MB")  # a job, and its memory


def _fail_exports(db: Database) -> None:
    """Exports that failed for good, as a worker records them."""
    settings = load_settings()
    store = JobStore.from_settings(settings)
    service = ExportService(
        db=db, store=store, sources=SourceRegistry(demo_sources()), settings=settings
    )
    request = ExportRequest(source="trades", format="csv", params={})
    for owner, count in DEAD.items():
        for _ in range(count):
            service.create(Principal(owner, "free" if owner == "carol" else "pro"), request)
    worker = WorkerContext(settings=settings, db=db, store=store)
    failed = 0
    while failed < sum(DEAD.values()):  # a free plan's owner runs 2 at once: claim again
        with db.write() as conn:
            claimed = store.claim(conn, worker_id="seed", queues=["default"], limit=10)
        assert claimed, "every export was claimed before all of them failed"
        for job in claimed:
            code = "connection_unavailable" if failed % 3 else "row_limit_exceeded"
            error = ErrorInfo(code, "the source's database did not answer", False)
            with db.write() as conn:
                settled = store.settle(
                    conn, Outcome(claim=Claimed(job.id, job.attempt), error=error)
                )
                record_outcome(conn, settled, worker)
            failed += 1


def _past_day(db: Database) -> None:
    """A day of history in the event log, so the charts have something to draw."""
    now = datetime.now(UTC)
    line = {"source": "trades", "format": "csv", "code": None, "detail": None}
    rows = []
    for hour in range(1, 24):
        at = now - timedelta(hours=hour)
        for n in range(3 + (hour * 7) % 11):
            run_ms = 400 + 90 * ((hour + n) % 13)
            detail = {"wait_ms": 50 + 20 * n, "run_ms": run_ms, "size": 10_000}
            rows.append({**line, "at": at, "kind": "completed", "detail": detail})
        if hour % 5 == 0:
            rows.append({**line, "at": at, "kind": "failed", "code": "transient_error"})
    with db.write() as conn:
        conn.execute(insert(export_events), rows)


def _seed(db: Database) -> None:
    with db.write() as conn:
        create_demo_tables(conn)
        seed_trades(conn, "bob", 4_000)
    _fail_exports(db)
    _past_day(db)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    env = {
        "EXPORTD_PAGE_SIGN_IN_DEMO": "true",
        "EXPORTD_SOURCE_MODULES": '["exportd.demo.sources:demo_sources", '
        '"tests.support.slow_source:slow_sources"]',
        "EXPORTD_EXPORT_BATCH_ROWS": "100",
        "EXPORTD_JOB_LEASE_S": "3",  # a heartbeat a second: the worker's jobs show soon
    }
    with live_exportd(tmp_path_factory.mktemp("console"), seed=_seed, env=env) as server:
        yield server


def _tab(browser: Any, **options: Any) -> tuple[Any, Any, list[str]]:
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)
    context = browser.new_context(**options)
    tab = context.new_page()
    tab.set_default_timeout(20_000)
    return context, tab, csp_violations(tab)


def _sign_in(tab: Any, live: Live, user: str) -> None:
    from playwright.sync_api import expect

    tab.goto(f"{live.url}/exports")
    tab.get_by_role("button", name=f"Sign in as {user}").click()
    expect(tab.get_by_role("heading", name="New export")).to_be_visible()


def _shoot(tab: Any, name: str) -> None:
    if (where := screenshot_dir()) is not None:
        where.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(where / f"{name}.png"), full_page=True)


def test_the_console_shows_the_work_and_retries_every_dead_letter_found(
    browser: Any, live: Live
) -> None:
    from playwright.sync_api import expect

    context, tab, violations = _tab(browser, viewport={"width": 1280, "height": 900})
    try:
        _sign_in(tab, live, "admin")
        slow = httpx.post(
            f"{live.url}/v1/exports",
            json={"source": "slow_trades", "format": "csv", "params": {}},
            headers={"Authorization": f"Bearer {live.token('bob')}"},
        ).json()
        tab.goto(f"{live.url}/exports/admin")
        expect(tab.get_by_role("heading", name="Operator's console")).to_be_visible()
        workers = tab.locator("#workers tbody")
        for _ in range(40):  # the worker's next heartbeat brings the job's memory
            if re.search(RUNNING, workers.inner_text()):
                break
            tab.wait_for_timeout(500)
            tab.reload()
        assert re.search(RUNNING, workers.inner_text()), workers.inner_text()
        expect(tab.locator("#queues tbody").first).to_contain_text("default")
        charts = tab.locator("#last-day svg[role=img]")
        expect(charts).to_have_count(3)
        assert tab.locator("#last-day svg rect").count() >= 20  # an hour's bar each
        assert tab.locator("#last-day dl.figures").inner_text().count("%") == 1
        assert axe_violations(tab) == []
        _shoot(tab, "console")

        tab.get_by_label("Owner").fill("alice")
        tab.get_by_role("button", name="Search").click()
        expect(tab.locator("#dead-count")).to_have_text(f"{DEAD['alice']} exports match.")
        assert tab.locator("#dead-letters tbody tr").count() == DEAD["alice"]
        tab.get_by_label("Error code").fill("connection_unavailable")
        tab.get_by_role("button", name="Search").click()
        matched = int(tab.locator("#dead-count strong").inner_text())
        assert 0 < matched < DEAD["alice"]
        _shoot(tab, "console-dead-letters")
        tab.get_by_role("button", name=f"Retry all {matched}").click()
        expect(tab.locator("#dead-letters .notice.ok")).to_have_text(f"Retried {matched} exports.")
        expect(tab.locator("#dead-count")).to_have_text("0 exports match.")
        expect(tab.locator("#admin-actions")).to_contain_text(
            f"admin retried {matched} dead exports"
        )
        expect(tab.get_by_label("Owner")).to_have_value("alice")  # the same search, after
        assert axe_violations(tab) == []
        tab.get_by_role("button", name="Pause the queue default").click()
        expect(tab.locator("#queue-claims")).to_contain_text("Paused by admin")
        assert axe_violations(tab) == []
        tab.get_by_role("button", name="Resume the queue default").click()
        expect(tab.locator("#queue-claims")).to_contain_text("Running")
        token = live.token("alice")
        listed = httpx.get(
            f"{live.url}/v1/exports?status=failed", headers={"Authorization": f"Bearer {token}"}
        ).json()
        assert len(listed["items"]) == DEAD["alice"] - matched
        httpx.post(
            f"{live.url}/v1/exports/{slow['id']}/cancel",
            headers={"Authorization": f"Bearer {live.token('bob')}"},
        )
    finally:
        context.close()
    assert violations == [], "the console broke the page's Content-Security-Policy"


def test_the_console_at_phone_width(browser: Any, live: Live) -> None:
    from playwright.sync_api import expect

    context, phone, violations = _tab(
        browser, viewport={"width": 390, "height": 844}, is_mobile=True
    )
    try:
        _sign_in(phone, live, "admin")
        phone.goto(f"{live.url}/exports/admin?owner=carol")
        expect(phone.locator("#dead-count")).to_have_text(f"{DEAD['carol']} exports match.")
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the console scrolls sideways at phone width ({width}px)"
        # A wide table scrolls in its own box, which the keyboard can reach.
        boxes = phone.evaluate(
            """[...document.querySelectorAll('.table-scroll')].map(b =>
                 [b.scrollWidth > b.clientWidth, b.tabIndex, b.getBoundingClientRect().right])"""
        )
        assert any(wide for wide, _, _ in boxes)
        assert all(tab_index == 0 and right <= 390 for _, tab_index, right in boxes)
        for chart in phone.locator("#last-day svg").all():
            box = chart.bounding_box()
            assert box is not None
            assert box["x"] + box["width"] <= 390
        assert axe_violations(phone) == []
        _shoot(phone, "console-phone")
    finally:
        context.close()
    assert violations == []


def test_a_user_who_is_not_an_admin_is_refused(browser: Any, live: Live) -> None:
    from playwright.sync_api import expect

    context, tab, _ = _tab(browser)
    try:
        _sign_in(tab, live, "bob")
        answer = tab.goto(f"{live.url}/exports/admin")
        assert answer.status == 403
        expect(tab.get_by_role("alert")).to_contain_text("The operator's console is for admins.")
        expect(tab.get_by_role("button", name=re.compile("Retry all"))).to_have_count(0)
        assert axe_violations(tab) == []
    finally:
        context.close()

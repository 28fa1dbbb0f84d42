"""The /exports page in headless Chromium against a live server and worker: sign in,
create with filters and columns, watch it live, download and read the file, cancel,
retry, the watermark note, refusals, documents, phone width and keyboard use."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from pypdf import PdfReader
from sqlalchemy import select

from exportd.auth.principal import Principal
from exportd.config import load_settings
from exportd.db import Database
from exportd.demo.resumes import RESUMES
from exportd.demo.tables import (
    create_demo_tables,
    demo_trades,
    seed_goals_and_evaluations,
    seed_trades,
)
from exportd.documents.service import DocumentService
from exportd.queue import JobStore
from tests.support.browser import csp_violations, screenshot_dir
from tests.support.live import Live, live_exportd

pytestmark = pytest.mark.slow

expect: Any = None  # playwright.sync_api.expect, imported with the browser


def _seed(db: Database) -> None:
    with db.write() as conn:
        create_demo_tables(conn)
        seed_trades(conn, "alice", 2_000)
        seed_trades(conn, "bob", 2_000)
    documents = DocumentService(
        db=db, store=JobStore.from_settings(load_settings()), max_sections=20
    )
    for user, content in RESUMES.items():
        documents.create(Principal(user, "free"), title="Resume", content=content)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    env = {
        "EXPORTD_PAGE_SIGN_IN_DEMO": "true",
        "EXPORTD_SOURCE_MODULES": '["exportd.demo.sources:demo_sources", '
        '"tests.support.slow_source:slow_sources"]',
        "EXPORTD_EXPORT_BATCH_ROWS": "100",
        "EXPORTD_EVENTS_POLL_INTERVAL_S": "0.2",
    }
    with live_exportd(tmp_path_factory.mktemp("page"), seed=_seed, env=env) as server:
        yield server


@pytest.fixture
def page(browser: Any, live: Live) -> Iterator[Any]:
    global expect
    from playwright.sync_api import expect as playwright_expect

    expect = playwright_expect
    expect.set_options(timeout=20_000)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    tab = context.new_page()
    tab.set_default_timeout(20_000)
    violations = csp_violations(tab)
    yield tab
    context.close()
    assert violations == [], "the page broke its own Content-Security-Policy"


def shoot(page: Any, name: str) -> None:
    where = screenshot_dir()
    if where is not None:
        where.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(where / f"{name}.png"), full_page=True)


def sign_in_as(page: Any, live: Live, user: str) -> None:
    page.goto(f"{live.url}/exports")
    page.get_by_role("button", name=f"Sign in as {user}").click()
    expect(page.get_by_role("heading", name="New export")).to_be_visible()


def newest(page: Any) -> Any:
    return page.locator("#export-list > li").first


def test_sign_in_export_chosen_columns_watch_it_and_download(page: Any, live: Live) -> None:
    page.goto(f"{live.url}/exports")
    shoot(page, "sign-in")
    sign_in_as(page, live, "bob")
    page.get_by_label("What to export").select_option("trades")
    page.get_by_label("Symbol", exact=True).fill("AAPL")
    page.get_by_label("Direction", exact=True).select_option("long")
    page.locator("#columns > summary").click()  # opens the disclosure
    keep = {"symbol", "direction", "pnl"}
    for box in page.locator("#columns input[name=col]").all():
        box.set_checked(box.get_attribute("value") in keep)
    expect(page.locator("[data-column-count]")).to_have_text("3")
    page.get_by_label("Header for pnl").fill("P&L")
    for _ in range(5):  # pnl climbs above direction
        page.get_by_role("button", name="Move pnl up").click()
    shoot(page, "create")
    page.get_by_role("button", name="Export", exact=True).click()
    expect(page.locator("#notice")).to_contain_text("Queued trades as CSV")
    row = newest(page)
    expect(row.locator(".badge")).to_have_text("Ready")  # brought by the live stream
    shoot(page, "completed")
    rows_text = row.locator(".export-body").inner_text()
    shown = int(re.search(r"([\d,]+) rows", rows_text).group(1).replace(",", ""))  # type: ignore[union-attr]
    with page.expect_download() as download:
        row.get_by_role("link", name="Download").click()
    table = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    assert table[0] == ["Symbol", "P&L", "Direction"]  # the placeholders' labels, one renamed
    assert {(r[0], r[2]) for r in table[1:]} == {("AAPL", "long")}
    with live.database().read() as conn:
        expected = conn.execute(
            select(demo_trades.c.id).where(
                demo_trades.c.owner_id == "bob",
                demo_trades.c.symbol == "AAPL",
                demo_trades.c.direction == "long",
            )
        ).all()
    assert len(table) - 1 == shown == len(expected)


def test_watch_progress_live_and_cancel(page: Any, live: Live) -> None:
    sign_in_as(page, live, "bob")
    page.get_by_label("What to export").select_option("slow_trades")
    page.get_by_role("button", name="Export", exact=True).click()
    row = newest(page)
    expect(row.locator(".badge")).to_have_text("Running")
    expect(row.locator("progress")).to_have_attribute("value", re.compile(r"^[1-9]\d*$"))
    expect(row).to_contain_text("of 2,000 rows")
    shoot(page, "running")
    row.get_by_role("button", name="Cancel").click()
    expect(row.locator(".badge")).to_have_text("Cancelled")
    expect(row).to_contain_text("Cancelled before it finished: no file was kept.")
    expect(row.get_by_role("button", name="Export again")).to_be_visible()
    export_id = (row.get_attribute("id") or "").removeprefix("export-")
    api = httpx.get(
        f"{live.url}/v1/exports/{export_id}",
        headers={"Authorization": f"Bearer {live.token('bob')}"},
    ).json()
    assert api["status"] == "cancelled"
    assert api["result"] is None


def test_a_failed_export_says_why_and_retries(page: Any, live: Live) -> None:
    page.goto(f"{live.url}/exports")
    page.get_by_label("Token from your application").fill(live.token("carol"))
    page.get_by_role("button", name="Sign in", exact=True).click()
    # Her trader profile has no work section yet (no prop-firm evaluations), which the
    # modern template needs: known only when the worker builds it, so the export fails.
    page.get_by_label("What to export").select_option("trader_profile")
    page.get_by_label("Template").select_option("modern")
    page.get_by_role("button", name="Export", exact=True).click()
    row = newest(page)
    expect(row.locator(".badge")).to_have_text("Failed")
    expect(row).to_contain_text("The resume lacks a section the template needs.")
    shoot(page, "failed")
    db = live.database()
    with db.write() as conn:
        seed_goals_and_evaluations(conn, "carol")
    db.dispose()
    row.get_by_role("button", name="Retry").click()
    expect(newest(page).locator(".badge")).to_have_text("Ready")
    expect(page.locator("#export-list > li")).to_have_count(1)


def test_a_choice_made_while_the_page_loads_gets_its_fields(page: Any, live: Live) -> None:
    """What to export, changed before htmx listens (its script still loading, as on a slow
    network or a busy machine): the choice's own fields come once it loads."""
    page.goto(f"{live.url}/exports")
    page.get_by_label("Token from your application").fill(live.token("carol"))
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", name="New export")).to_be_visible()
    held: list[Any] = []
    page.route("**/vendor/htmx-*.js", lambda route: held.append(route))  # answered below
    page.reload(wait_until="commit")
    page.get_by_label("What to export").select_option("trader_profile")
    expect(page.get_by_label("Template")).to_have_count(0)  # nothing listened yet
    for route in held:
        route.continue_()
    expect(page.get_by_label("Template")).to_be_visible()


def test_a_free_resume_pdf_carries_the_watermark_note(page: Any, live: Live) -> None:
    sign_in_as(page, live, "alice")
    expect(page.locator("#usage")).to_contain_text("watermark")
    page.get_by_label("What to export").select_option("resume")
    page.get_by_label("Page size").select_option("letter")
    page.get_by_role("button", name="Export", exact=True).click()
    row = newest(page)
    expect(row.locator(".badge")).to_have_text("Ready")
    expect(row).to_contain_text("Watermarked: free plan")
    with page.expect_download() as download:
        row.get_by_role("link", name="Download").click()
    pdf = PdfReader(download.value.path())
    assert "PREVIEW" in "".join(p.extract_text() for p in pdf.pages)
    width, height = (float(v) for v in pdf.pages[0].mediabox.upper_right)
    assert (round(width), round(height)) == (612, 792)  # Letter, as asked


def test_refusals_are_explained_and_nothing_is_created(page: Any, live: Live) -> None:
    sign_in_as(page, live, "alice")
    before = page.locator("#export-list > li").count()
    page.get_by_label("What to export").select_option("trades")
    expect(page.get_by_label("Symbol", exact=True)).to_be_visible()  # the trades fields
    # A format outside the plan is there, disabled, with the reason: not refused later.
    expect(page.locator("#format option[value=parquet]")).to_be_disabled()
    expect(page.locator("[data-plan-note]")).to_have_text("Parquet is not in your plan (free).")
    expect(page.get_by_label("Format")).to_have_value("csv")
    page.locator("summary", has_text="File options").click()
    page.get_by_label("Time zone for timestamps").fill("Mars/Olympus")
    page.get_by_role("button", name="Export", exact=True).click()
    expect(page.locator("#notice")).to_contain_text("options.timezone")
    expect(page.locator("#notice .notice")).to_have_attribute("data-code", "request_invalid")
    expect(page.locator("#notice .notice-text")).to_have_text("Some fields need fixing.")
    shoot(page, "refused")
    assert page.locator("#export-list > li").count() == before


def test_documents_panel_previews_and_changes_the_default(page: Any, live: Live) -> None:
    # Chromium reports what a frame's CSP refuses (the preview's fonts, once) as console
    # errors; the page's own listener sees only the top document's.
    console = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    fonts: list[int] = []
    page.on("response", lambda r: fonts.append(r.status) if "/fonts/" in r.url else None)
    headers = {"Authorization": f"Bearer {live.token('alice')}"}
    second = httpx.post(
        f"{live.url}/v1/documents",
        headers=headers,
        json={"title": "Short resume", "content": RESUMES["bob"]},
    )
    assert second.status_code == 201
    sign_in_as(page, live, "alice")
    panel = page.locator("#documents")
    panel.get_by_label("Resume").select_option(label="Resume")
    panel.get_by_label("Template").select_option("modern")
    panel.get_by_role("button", name="Preview").click()
    frame = page.frame_locator("iframe[name=preview-frame]")
    expect(frame.locator("body")).to_contain_text("Alice")
    page.wait_for_load_state("networkidle")
    assert [m for m in console if "Content Security Policy" in m] == []
    assert fonts, "the Modern template's fonts were never fetched"
    assert set(fonts) == {200}, fonts  # each one, from 'self'
    shoot(page, "documents")
    row = panel.locator("li", has_text="Short resume")
    row.get_by_role("button", name="Make default").click()
    expect(panel.locator("li", has_text="Short resume")).to_contain_text("Default")
    assert (
        httpx.get(f"{live.url}/v1/documents/default", headers=headers).json()["id"]
        == (second.json()["id"])
    )


def test_the_page_runs_under_its_csp(browser: Any, live: Live) -> None:
    """The policy is in force (an injected inline script is refused and reported, so the
    other tests' empty reports mean something) and htmx works within it."""
    from playwright.sync_api import expect as check

    context = browser.new_context()
    tab = context.new_page()
    violations = csp_violations(tab)
    try:
        answer = tab.goto(f"{live.url}/exports")
        policy = answer.headers["content-security-policy"]
        assert "script-src 'self';" in policy
        assert "frame-ancestors 'none'" in policy
        assert answer.headers["x-frame-options"] == "DENY"
        tab.get_by_role("button", name="Sign in as bob").click()
        check(tab.get_by_role("heading", name="New export")).to_be_visible()
        assert tab.evaluate("htmx.config.includeIndicatorStyles") is False
        assert tab.evaluate("document.querySelectorAll('style').length") == 0
        tab.get_by_label("What to export").select_option("resume")  # an htmx swap
        check(tab.get_by_label("Page size")).to_be_visible()
        assert violations == []
        tab.evaluate(
            """() => { const s = document.createElement("script");
                       s.textContent = "window.injected = true"; document.head.append(s); }"""
        )
        assert tab.evaluate("window.injected") is None
        for _ in range(50):  # the report comes asynchronously
            if violations:
                break
            tab.wait_for_timeout(20)
        assert violations == ["script-src-elem inline"]
    finally:
        context.close()


def test_phone_width_labels_and_keyboard(browser: Any, live: Live) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone = context.new_page()
    violations = csp_violations(phone)
    try:
        from playwright.sync_api import expect as check

        phone.goto(f"{live.url}/exports")
        phone.get_by_role("button", name="Sign in as bob").click()
        check(phone.get_by_role("heading", name="New export")).to_be_visible()
        # What the plan allows comes before the list it limits.
        usage, listed = (phone.locator(s).bounding_box() for s in ("#usage", ".list-card"))
        assert usage
        assert listed
        assert usage["y"] < listed["y"]
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways at phone width ({width}px)"
        unlabelled = phone.evaluate(
            """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
               .filter(el => el.labels.length === 0 && !el.getAttribute('aria-label'))
               .map(el => el.name || el.id)"""
        )
        assert unlabelled == []
        before = phone.locator("#export-list > li").count()
        phone.get_by_label("What to export").select_option("trades")
        phone.get_by_label("Symbol", exact=True).focus()
        phone.keyboard.type("MSFT")
        phone.keyboard.press("Enter")  # submits the form, as any form does
        check(phone.locator("#export-list > li")).to_have_count(before + 1)
        check(phone.locator("#export-list > li").first.locator(".badge")).to_have_text("Ready")
        if (where := screenshot_dir()) is not None:
            phone.screenshot(path=str(where / "phone.png"), full_page=True)
    finally:
        context.close()
    assert violations == [], "the page broke its own Content-Security-Policy"


def test_an_emailed_links_page_survives_a_prefetch_and_its_button_downloads_once(
    page: Any, live: Live
) -> None:
    headers = {"Authorization": f"Bearer {live.token('bob')}"}
    body = {"source": "trades", "format": "csv", "params": {"limit": 5}}
    export = httpx.post(f"{live.url}/v1/exports", json=body, headers=headers).json()
    for _ in range(200):
        if export["status"] == "completed":
            break
        page.wait_for_timeout(100)
        export = httpx.get(f"{live.url}{export['links']['self']}", headers=headers).json()
    token_url = httpx.post(
        f"{live.url}/v1/exports/{export['id']}/download-token", headers=headers
    ).json()["url"]
    # The email's form of the link; a mail scanner fetches it before the user does.
    link = live.url + token_url.replace("/v1/downloads/", "/exports/downloads/")
    assert httpx.head(link).status_code == 200
    assert httpx.get(link).status_code == 200
    page.goto(link)
    expect(page.get_by_role("heading", name="Your file is ready")).to_be_visible()
    expect(page.locator("main")).to_contain_text(export["result"]["filename"])
    shoot(page, "download-link")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download").click()  # Chromium's own form POST
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    assert len(rows) == 6  # the header and five trades
    page.reload()
    expect(page.locator("main")).to_contain_text("download_token_used")


def test_schedules_panel_creates_pauses_runs_and_deletes(page: Any, live: Live) -> None:
    sign_in_as(page, live, "alice")
    panel = page.locator("#schedules")
    expect(panel).to_contain_text("No schedules yet")
    page.get_by_label("What to export").select_option("trades")
    page.get_by_label("Symbol", exact=True).fill("MSFT")
    page.locator("summary", has_text="Repeat it").click()
    # A refusal first: a cron that is not one is a notice, and nothing is made.
    page.get_by_label("Cron (minute hour day month weekday)").fill("every monday")
    page.get_by_role("button", name="Schedule", exact=True).click()
    expect(page.locator("#notice .notice")).to_have_attribute("data-code", "cron_invalid")
    expect(panel).to_contain_text("No schedules yet")
    page.get_by_label("Cron (minute hour day month weekday)").fill("")
    page.get_by_label("Every", exact=True).select_option("1h")  # the free plan's shortest
    page.get_by_role("button", name="Schedule", exact=True).click()
    expect(page.locator("#notice")).to_contain_text("Scheduled trades: next run")
    item = panel.locator("li")
    expect(item).to_have_count(1)
    expect(item).to_have_attribute("data-status", "active")
    expect(item).to_contain_text("every 1h")
    expect(item.locator(".badge")).to_have_text("Active")
    shoot(page, "schedule-made")

    item.get_by_role("button", name="Pause").click()
    expect(item).to_have_attribute("data-status", "paused")
    expect(item.locator(".badge")).to_have_text("Paused")
    expect(page.locator("#notice")).to_contain_text("Paused.")

    # Run now works while paused: a new export, made and finished by the worker.
    before = page.locator("#export-list > li").count()
    item.get_by_role("button", name="Run now").click()
    expect(page.locator("#notice")).to_contain_text("Queued trades as CSV.")
    page.reload()  # the list as the page shows it after the run
    expect(page.locator("#export-list > li")).to_have_count(before + 1)
    expect(newest(page).locator(".badge")).to_have_text("Ready")

    item = page.locator("#schedules li")
    item.get_by_role("button", name="Resume").click()
    expect(item).to_have_attribute("data-status", "active")
    page.once("dialog", lambda dialog: dialog.accept())  # "Delete this schedule?"
    item.get_by_role("button", name="Delete").click()
    expect(page.locator("#notice")).to_contain_text("Schedule deleted; its exports stay.")
    expect(page.locator("#schedules")).to_contain_text("No schedules yet")
    # Its export stays.
    expect(page.locator("#export-list > li")).to_have_count(before + 1)


def test_schedules_panel_at_phone_width(browser: Any, live: Live) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone = context.new_page()
    violations = csp_violations(phone)
    try:
        from playwright.sync_api import expect as check

        phone.goto(f"{live.url}/exports")
        phone.get_by_role("button", name="Sign in as bob").click()
        check(phone.get_by_role("heading", name="New export")).to_be_visible()
        phone.get_by_label("What to export").select_option("trades")
        phone.locator("summary", has_text="Repeat it").click()
        phone.get_by_label("Every", exact=True).select_option("1d")
        phone.get_by_label("Skip a run that finds no rows").check()
        phone.get_by_role("button", name="Schedule", exact=True).click()
        item = phone.locator("#schedules li")
        check(item).to_contain_text("every 1d · skips empty runs")
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways at phone width ({width}px)"
        for name in ("Run now", "Pause", "Delete"):
            button = item.get_by_role("button", name=name)
            box = button.bounding_box()
            assert box is not None
            assert box["x"] >= 0
            assert box["x"] + box["width"] <= 390, (name, box)
            assert box["height"] >= 24, (name, box)  # big enough to tap
        unlabelled = phone.evaluate(
            """[...document.querySelectorAll(
                  '#schedules button, details.repeat input, details.repeat select')]
               .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                             && !el.textContent.trim())
               .map(el => el.name || el.id)"""
        )
        assert unlabelled == []
        # The keyboard reaches the panel's buttons and presses them.
        item.get_by_role("button", name="Pause").focus()
        phone.keyboard.press("Enter")
        check(phone.locator("#schedules li")).to_have_attribute("data-status", "paused")
        if (where := screenshot_dir()) is not None:
            phone.screenshot(path=str(where / "phone-schedules.png"), full_page=True)
        phone.once("dialog", lambda dialog: dialog.accept())
        phone.locator("#schedules li").get_by_role("button", name="Delete").click()
        check(phone.locator("#schedules")).to_contain_text("No schedules yet")
    finally:
        context.close()
    assert violations == [], "the page broke its own Content-Security-Policy"

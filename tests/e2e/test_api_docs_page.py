"""/docs (Swagger UI) in headless Chromium, with every host but the server out of reach:
the page renders the API's operations from the package's own files and runs one, under a
CSP of its own origin, with nothing refused and no error in the console."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest

from exportd.api.app import create_app
from exportd.config import load_settings
from exportd.db import create_database
from exportd.db.migrate import upgrade
from tests.support.browser import csp_violations
from tests.support.served import served
from tests.support.sources import fake_sources

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("docs")
    settings = load_settings(
        database_url=f"sqlite:///{tmp / 'docs.db'}", storage_url=f"file://{tmp / 'files'}"
    )
    db = create_database(settings)
    upgrade(db)
    with served(create_app(settings, db=db, sources=fake_sources())) as base:
        yield base
    db.dispose()


class Offline:
    """A tab that reaches the server and nothing else, noting what it tried elsewhere
    and what went wrong in it."""

    def __init__(self, browser: Any, url: str) -> None:
        from playwright.sync_api import expect

        self.expect = expect
        expect.set_options(timeout=20_000)
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.elsewhere: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._only(urlsplit(url).netloc))
        self.tab = self.context.new_page()
        self.tab.set_default_timeout(20_000)
        self.violations = csp_violations(self.tab)
        self.tab.on("pageerror", lambda error: self.errors.append(str(error)))
        self.tab.on(
            "console",
            lambda message: self.errors.append(message.text) if message.type == "error" else None,
        )

    def _only(self, server: str) -> Any:
        def route(route: Any) -> None:
            if urlsplit(route.request.url).netloc == server:
                route.continue_()
            else:
                self.elsewhere.append(route.request.url)
                route.abort("internetdisconnected")

        return route

    def check(self) -> None:
        self.context.close()
        assert self.elsewhere == [], "the page reached for another host"
        assert self.violations == [], "the page broke its own Content-Security-Policy"
        assert self.errors == [], "the console has errors"


@pytest.fixture
def offline(browser: Any, url: str) -> Iterator[Offline]:
    tab = Offline(browser, url)
    yield tab
    tab.check()


def test_swagger_ui_renders_the_operations_and_runs_one(offline: Offline, url: str) -> None:
    page, expect = offline.tab, offline.expect
    response = page.goto(f"{url}/docs")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    create = page.locator('.opblock-post .opblock-summary-path[data-path="/v1/exports"]')
    expect(create).to_be_visible()
    assert page.locator(".opblock").count() > 30
    health = page.locator("#operations-ops-get_health")
    health.locator(".opblock-summary").click()
    health.get_by_role("button", name="Try it out").click()
    health.get_by_role("button", name="Execute").click()
    answered = health.locator(".live-responses-table tr.response .response-col_status")
    expect(answered).to_have_text("200")


def test_redoc_sends_readers_to_the_page_that_works_offline(url: str) -> None:
    moved = httpx2.get(f"{url}/redoc")
    assert (moved.status_code, moved.headers["location"]) == (308, "/docs")

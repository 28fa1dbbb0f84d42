"""Headless Chromium for the page's tests: Debian's ``chromium`` driven by Playwright
(never a downloaded browser).  Missing locally: the tests skip; in CI they must run."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# axe-core from tests/js (npm ci --prefix tests/js, as make test does), for accessibility.
AXE = Path(__file__).resolve().parents[1] / "js" / "node_modules" / "axe-core" / "axe.min.js"
# Without these Chromium keeps calling home, and this machine's closed network refuses it.
QUIET = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what}: .ci/run installs it", pytrace=False)
    pytest.skip(f"{what} (apt-get install chromium; pip install playwright)")


def require_chromium() -> None:
    """Skip (locally) or fail (in CI) unless Playwright and Debian's chromium are here."""
    try:
        import playwright  # noqa: F401
    except ImportError:
        _missing("Playwright is not installed")
    if not Path(CHROMIUM).exists():
        _missing("Debian's chromium is not installed")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=QUIET)
        yield chromium
        chromium.close()


def screenshot_dir() -> Path | None:
    """Where to save the page's screenshots (``make screenshots`` sets docs/screenshots)."""
    where = os.environ.get("EXPORTD_SCREENSHOTS")
    return Path(where) if where else None


def csp_violations(tab: Any) -> list[str]:
    """What the page's own CSP refused, as it happens (its ``securitypolicyviolation``
    events).  Only the top document's: no script runs in a resume preview's sandboxed
    frame, so the documents test reads that frame's refusals from the console."""
    found: list[str] = []
    tab.expose_binding("reportCspViolation", lambda _source, text: found.append(text))
    tab.add_init_script(
        """if (window === window.top) document.addEventListener("securitypolicyviolation",
             (e) => window.reportCspViolation(e.violatedDirective + " " + e.blockedURI));"""
    )
    return found


def axe_violations(tab: Any, *, exclude: tuple[str, ...] = ()) -> list[str]:
    """What axe-core finds wrong with the page as it stands (WCAG 2.1 A and AA rules and
    axe's best practices), one line per rule broken.  The script is evaluated through
    the DevTools protocol, so the page's own CSP (no inline script) stays in force."""
    if not AXE.is_file():
        _missing("axe-core is not installed (npm ci --prefix tests/js)")
    tab.evaluate(AXE.read_text())
    result = tab.evaluate(
        """(exclude) => axe.run({exclude: exclude.map((s) => [s])},
             {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']})""",
        list(exclude),
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
        for v in result["violations"]
    ]

"""HTML to PDF with headless Chromium (Debian's ``chromium``), driven by Playwright.

One browser per worker process, kept warm between jobs with one page: a new page per
job costs ~5x the render.  The browser is restarted after ``restart_after`` jobs (to
bound slow leaks) and whenever it crashed.

Confinement: the document is served from a made-up origin
(``https://template.exportd.invalid``) by a request handler, which answers only files
inside the template's folder; every other request — http(s), another host, a
redirect — is aborted before it leaves the browser, and ``file://`` is never reachable
from an https page.  Scripts are off and host names never resolve, so nothing in the
data or CSS can reach the network or the disk.
"""

from __future__ import annotations

import contextlib
import mimetypes
import os
import re
import shutil
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from exportd.documents.fontconfig import config_file
from exportd.documents.templates import Template
from exportd.errors import ConfigError, RetryableJobError

ORIGIN = "https://template.exportd.invalid"
_ARGS = [
    "--no-sandbox",  # workers often run as root in containers; scripts are off anyway
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-features=DnsOverHttps",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # no name resolves: a belt for the braces
]
PAPER = {"a4": "A4", "letter": "Letter"}
# Skia's Info dates: D:YYYYMMDDHHmmSS+00'00'.
_SKIA_DATE = re.compile(rb"/(CreationDate|ModDate) \(D:\d{14}([+-]\d\d'\d\d'|Z)\)")


def chromium_executable(configured: str | None) -> str:
    """The browser to drive: the setting, else Chromium on the PATH; or a clear error."""
    found = configured or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found or not Path(found).exists():
        raise ConfigError(
            "EXPORTD_PDF_ENGINE=chromium needs a Chromium: apt install chromium "
            "(or set EXPORTD_CHROMIUM_PATH)"
        )
    return found


def check_chromium(configured: str | None) -> None:
    """At start-up: the engine's two needs are there (ConfigError names what is not)."""
    chromium_executable(configured)
    _require_playwright()


def _require_playwright() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise ConfigError(
            "EXPORTD_PDF_ENGINE=chromium needs Playwright: pip install 'exportd[chromium]'"
        ) from None
    return sync_playwright


class ChromiumEngine:
    def __init__(
        self,
        *,
        executable: str | None = None,
        restart_after: int = 200,
        font_dirs: Sequence[str] = (),
    ) -> None:
        self.executable = chromium_executable(executable)
        self.font_dirs = list(font_dirs)
        self.restart_after = restart_after
        self.launches = 0
        self._sync_playwright = _require_playwright()
        self._playwright: Any = None
        self._browser: Any = None
        self._page: Any = None
        self._jobs = 0
        self._template: Template | None = None  # the template being served
        self._html = ""

    def pdf(self, template: Template, html: str, paper: str, *, created: datetime) -> bytes:
        """The PDF of ``html``, whose relative URLs resolve inside the template's folder,
        dated ``created``."""
        return _dated(self._pdf(template, html, paper), created)

    def _pdf(self, template: Template, html: str, paper: str) -> bytes:
        if self._jobs >= self.restart_after:
            self.close()
        try:
            return self._print(template, html, paper)
        except Exception as exc:
            if not self._crashed(exc):
                raise
            self.close()  # a dead browser: start a new one and try once more
            try:
                return self._print(template, html, paper)
            except Exception as again:
                self.close()
                raise RetryableJobError(f"Chromium failed twice: {again}") from again

    def _print(self, template: Template, html: str, paper: str) -> bytes:
        page = self._ready_page()
        self._template, self._html = template, html
        self._jobs += 1
        page.goto(f"{ORIGIN}/", wait_until="load")
        # Web fonts load as layout asks for them, possibly after "load": wait for all, or a
        # fallback font could print instead of the template's own.  (Evaluated through
        # the DevTools protocol: the page's own scripts stay off.)
        page.evaluate("document.fonts.ready.then(() => document.fonts.size)")
        pdf: bytes = page.pdf(
            format=PAPER[paper], print_background=True, prefer_css_page_size=True, tagged=True
        )
        return pdf

    def _ready_page(self) -> Any:
        if self._page is not None and not self._page.is_closed():
            return self._page
        if self._playwright is None:
            self._playwright = self._sync_playwright().start()
        if self._browser is None or not self._browser.is_connected():
            env = {**os.environ, "FONTCONFIG_FILE": str(config_file(self.font_dirs))}
            self._browser = self._playwright.chromium.launch(
                executable_path=self.executable, args=_ARGS, env=env
            )
            self.launches += 1
            self._jobs = 0
        context = self._browser.new_context(
            java_script_enabled=False, service_workers="block", offline=False
        )
        context.route("**/*", self._answer)
        self._page = context.new_page()
        self._page.set_default_timeout(30_000)
        return self._page

    def _answer(self, route: Any) -> None:
        """Serve the document and its template's files; abort everything else."""
        url = urlsplit(route.request.url)
        if f"{url.scheme}://{url.netloc}" != ORIGIN or self._template is None:
            route.abort("blockedbyclient")
            return
        if url.path in ("", "/"):
            route.fulfill(status=200, content_type="text/html; charset=utf-8", body=self._html)
            return
        path = self._template.local_file(self._template.folder / unquote(url.path).lstrip("/"))
        if path is None:
            route.abort("blockedbyclient")
            return
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        route.fulfill(status=200, content_type=kind, body=path.read_bytes())

    @staticmethod
    def _crashed(exc: Exception) -> bool:
        text = str(exc)
        return any(
            sign in text
            for sign in ("Target closed", "has been closed", "crashed", "Connection closed")
        )

    def close(self) -> None:
        """Stop the browser (and Playwright's driver); the next job starts a new one."""
        # A crashed browser or driver fails to close: it is already gone, which is the goal.
        if self._browser is not None:
            with contextlib.suppress(Exception):
                self._browser.close()
        if self._playwright is not None:
            with contextlib.suppress(Exception):
                self._playwright.stop()
        self._playwright = self._browser = self._page = None


def _dated(pdf: bytes, created: datetime) -> bytes:
    """Skia's clock dates replaced by ``created`` (UTC), byte for byte the same length so
    no offset in the cross-reference table moves."""
    stamp = created.strftime("%Y%m%d%H%M%S").encode()

    def redate(match: re.Match[bytes]) -> bytes:
        zone = b"+00'00'" if match[2] != b"Z" else b"Z"
        return b"/" + match[1] + b" (D:" + stamp + zone + b")"

    return _SKIA_DATE.sub(redate, pdf)

"""Instant previews for an editor: the document as HTML with a template, no queue.

HTML templates give their HTML (Jinja2, in the request's thread: milliseconds for the
largest valid document); Typst templates give their pages as inline SVG inside a small
HTML page, compiled in a pool of child processes with a time and a page budget (see
``preview_pool``).  A per-user budget (per API process) keeps it cheap.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

from exportd.config import Settings
from exportd.documents.models import Resume
from exportd.documents.preview_pool import PreviewPool
from exportd.documents.render import Renderer, RenderOptions, check_sections
from exportd.documents.templates import Template
from exportd.errors import LimitReached, RequestInvalid, TerminalJobError

# How a preview is served, by the API and by the page alike.  Its text is the user's: no
# scripts, ever; fonts from this site only (the page names the template's bundled fonts
# as it serves them, web/fonts.py); framed by the same site only (the page's sandboxed
# frame).
PREVIEW_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src 'self'; "
    "frame-ancestors 'self'"
)
PREVIEW_HEADERS = {
    "Content-Security-Policy": PREVIEW_CSP,
    "X-Frame-Options": "SAMEORIGIN",
    "Cache-Control": "private, no-store",
}


class Previews:
    def __init__(
        self,
        *,
        per_minute: int,
        max_pages: int,
        timeout_s: float,
        processes: int,
        font_dirs: list[str],
    ) -> None:
        self.per_minute = per_minute
        self.max_pages = max_pages
        # Jinja2 only: a sandboxed environment renders from many threads at once.
        self.renderer = Renderer()
        self.pool = PreviewPool(processes=processes, timeout_s=timeout_s, font_dirs=font_dirs)
        self._recent: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Previews:
        return cls(
            per_minute=settings.preview_per_minute,
            max_pages=settings.preview_max_pages,
            timeout_s=settings.preview_timeout_s,
            processes=settings.preview_processes,
            font_dirs=settings.typst_font_dirs,
        )

    def html(
        self,
        user_id: str,
        resume: Resume,
        template: Template,
        *,
        watermark: bool,
        fonts_url: str | None = None,
    ) -> str:
        """``fonts_url``: where the page serves the template's fonts (see Renderer.html)."""
        self._spend(user_id)
        try:
            check_sections(resume, template)
            return self._render(resume, template, watermark=watermark, fonts_url=fonts_url)
        except TerminalJobError as exc:
            raise RequestInvalid(exc.message, code=exc.code) from None

    def close(self) -> None:
        self.pool.close()

    def _render(
        self, resume: Resume, template: Template, *, watermark: bool, fonts_url: str | None
    ) -> str:
        data = resume.model_dump(mode="json")
        options = RenderOptions(template.manifest.page_size, watermark, self.max_pages)
        if template.manifest.engine == "html":
            return self.renderer.html(template, data, options, fonts_url=fonts_url)
        return _svg_page(self.pool.svg_pages(template, data, options))

    def _spend(self, user_id: str) -> None:
        now = time.monotonic()
        with self._lock:  # requests run on many threads: count each one once
            recent = self._recent[user_id]
            while recent and now - recent[0] > 60:
                recent.popleft()
            if len(recent) >= self.per_minute:
                raise LimitReached(
                    f"at most {self.per_minute} previews a minute",
                    code="preview_rate_limited",
                    retry_after_s=max(1, int(61 - (now - recent[0]))),
                )
            recent.append(now)


def _svg_page(svgs: list[bytes]) -> str:
    body = "\n".join(page.decode() for page in svgs)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<style>{_PAGE_STYLE}</style></head><body>{body}</body></html>"
    )


_PAGE_STYLE = (
    "body{background:#eee;margin:0;padding:12px}"
    "svg{background:#fff;display:block;margin:0 auto 12px;max-width:100%;height:auto;"
    "box-shadow:0 1px 4px #0003}"
)

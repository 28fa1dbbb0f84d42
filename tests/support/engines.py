"""Printing a resume with each engine as a worker would: the built-in template, the
engine's own renderer (Chromium is required in CI, skipped locally without it)."""

from __future__ import annotations

from typing import Any

from exportd.documents.models import Resume
from exportd.documents.render import Renderer, RenderOptions
from exportd.documents.templates import BUILTIN_DIR, load_template
from tests.support.browser import require_chromium

# (template, engine): every way a resume becomes a PDF.
ENGINE_CASES = [("modern", "weasyprint"), ("modern", "chromium"), ("classic", "typst")]
ENGINE_IDS = [f"{template}-{engine}" for template, engine in ENGINE_CASES]


def print_resume(template: str, engine: str, content: dict[str, Any], *, watermark: bool) -> bytes:
    """The PDF of ``content`` (validated as a stored document is) on A4."""
    if engine == "chromium":
        require_chromium()
    renderer = Renderer(pdf_engine="chromium" if engine == "chromium" else "weasyprint")
    data = Resume.model_validate(content).model_dump(mode="json")
    try:
        return renderer.render(
            load_template(BUILTIN_DIR / template), data, "pdf", RenderOptions("a4", watermark)
        )
    finally:
        renderer.close()

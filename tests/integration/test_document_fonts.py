"""Bundled fonts: every engine prints accents, Hebrew and Arabic with the template's own
fonts (embedded), never a font the machine happens to have; right-to-left text reads in
its order."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pypdf import PdfReader

from exportd.documents.models import Resume
from exportd.documents.render import Renderer, RenderOptions, text_dir
from exportd.documents.templates import BUILTIN_DIR, load_template
from exportd.errors import ConfigError
from tests.support.browser import require_chromium
from tests.support.pdfs import fonts_of

FIRST, SECOND = "מהנדסת", "נתונים"  # "data engineer": the first word read is the rightmost
RESUME = {
    "profile": {
        "name": "Zoë Ångström-Dvořák",
        "headline": f"{FIRST} {SECOND}",
        "summary": "שלום עולם · مرحبا بالعالم · Crème brûlée, ça va",
    },
    "work": [{"organisation": "Acme", "role": "Engineer", "highlights": ["עברית 123 text"]}],
}
CASES = [("modern", "weasyprint"), ("modern", "chromium"), ("classic", "typst")]


@pytest.fixture(params=CASES, ids=[f"{t}-{e}" for t, e in CASES])
def printed(request: pytest.FixtureRequest) -> PdfReader:
    template, engine = request.param
    if engine == "chromium":
        require_chromium()
    renderer = Renderer(pdf_engine="chromium" if engine == "chromium" else "weasyprint")
    data = Resume.model_validate(RESUME).model_dump(mode="json")
    try:
        pdf = renderer.render(
            load_template(BUILTIN_DIR / template), data, "pdf", RenderOptions("a4", True)
        )
    finally:
        renderer.close()
    return PdfReader(io.BytesIO(pdf))


def test_only_the_templates_own_fonts_and_all_embedded(printed: PdfReader) -> None:
    used = fonts_of(printed)
    assert all(used.values()), used
    own = ("Noto", "Libertinus")  # bundled, or built into Typst
    assert all(name.replace("-", "").startswith(own) for name in used), used
    assert any("Hebrew" in name for name in used) or any("Libertinus" in n for n in used)
    assert any("Arabic" in name for name in used), used


def test_accents_survive(printed: PdfReader) -> None:
    text = "".join(page.extract_text() for page in printed.pages)
    assert "Zoë Ångström-Dvořák" in text
    assert "Crème brûlée, ça va" in text


def test_right_to_left_words_are_in_reading_order(printed: PdfReader) -> None:
    runs: list[tuple[float, str]] = []

    def visit(text: str, cm: list[float], tm: list[float], *_: object) -> None:
        if FIRST in text or SECOND in text:
            runs.append((cm[4] + tm[4] * cm[0], text))

    printed.pages[0].extract_text(visitor_text=visit)
    together = [text for _x, text in runs if FIRST in text and SECOND in text]
    if together:
        # One run (WeasyPrint): its text is stored in reading order.
        assert f"{FIRST} {SECOND}" in together[0]
    else:
        # A run per word (Chromium, Typst): the word read first is further right.
        x_first = next(x for x, text in runs if FIRST in text)
        x_second = next(x for x, text in runs if SECOND in text)
        assert x_first > x_second


@pytest.mark.parametrize(
    ("text", "direction"),
    [
        ("שלום", "rtl"),
        ("مرحبا", "rtl"),
        ("Zoë", "ltr"),
        ("123 שלום", "rtl"),  # digits are weak: the first strong letter decides
        ("", "ltr"),
        (None, "ltr"),
    ],
)
def test_text_direction_follows_the_first_strong_letter(text: str | None, direction: str) -> None:
    assert text_dir(text) == direction


def test_a_manifest_naming_a_missing_font_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "manifest.toml").write_text(
        'name = "t"\nversion = "1"\ntitle = "T"\nengine = "html"\nentry = "t.html"\n'
        'fonts = ["Missing.ttf"]\n'
    )
    (folder / "t.html").write_text("<p></p>")
    with pytest.raises(ConfigError, match=r"Missing\.ttf"):
        load_template(folder)


WQY = Path("/usr/share/fonts/truetype/wqy")


def test_typst_prints_cjk_with_a_font_folder_the_operator_names() -> None:
    if not (WQY / "wqy-microhei.ttc").exists():
        pytest.skip("no CJK font here (apt-get install fonts-wqy-microhei)")
    content = {**RESUME, "profile": {"name": "王小明 Wang", "headline": "データエンジニア"}}
    data = Resume.model_validate(content).model_dump(mode="json")
    template = load_template(BUILTIN_DIR / "classic")
    plain, with_cjk = Renderer(), Renderer(typst_font_dirs=[str(WQY)])
    try:
        without = plain.render(template, data, "pdf", RenderOptions("a4", False))
        printed = with_cjk.render(template, data, "pdf", RenderOptions("a4", False))
    finally:
        plain.close()
        with_cjk.close()
    reader = PdfReader(io.BytesIO(printed))
    text = "".join(page.extract_text() for page in reader.pages)
    assert "王小明" in text
    assert "データエンジニア" in text
    used = fonts_of(reader)
    assert any("WenQuanYi" in name for name in used), used
    assert all(used.values()), used  # embedded like the bundled ones
    # Without the folder Typst has no CJK glyph: the system's fonts are never used.
    assert not any("WenQuanYi" in name for name in fonts_of(PdfReader(io.BytesIO(without))))


def test_a_font_folder_that_does_not_exist_refuses_to_start(tmp_path: Path) -> None:
    from exportd.config import load_settings

    with pytest.raises(ConfigError, match=r"EXPORTD_TYPST_FONT_DIRS.*not a folder"):
        load_settings(typst_font_dirs=[str(tmp_path / "missing")])

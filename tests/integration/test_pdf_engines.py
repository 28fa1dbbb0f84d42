"""What every engine's PDF is, read back with poppler (pdftotext, pdffonts, pdfinfo) and
pdfminer.six: text that extracts with the right letters, symbols and emoji from bundled
fonts only, tags, PDF/A-2b where the engine makes it, and the same bytes every time."""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
import unicodedata
from pathlib import Path

import pytest
from pdfminer.high_level import extract_text
from pdfminer.pdfdocument import PDFDocument
from pdfminer.pdfparser import PDFParser
from pdfminer.pdftypes import resolve1

from exportd.documents.models import Resume
from exportd.documents.render import Renderer, RenderOptions
from exportd.documents.templates import BUILTIN_DIR, SHARED_FONTS_DIR, load_template
from exportd.errors import TerminalJobError
from tests.support.browser import require_chromium

pytestmark = pytest.mark.slow

WQY = "/usr/share/fonts/truetype/wqy"  # the operator's CJK folder (.ci/run installs it)
ARABIC, HEBREW = "مهندسة بيانات", "שלום עולם"
CJK, LATIN = "王小明 データエンジニア", "Crème brûlée, ça va, office fiancé"
SYMBOLS = ("✓", "≠", "∑", "→", "😀", "🎉")
RESUME = {
    "profile": {"name": "Zoë Ångström-Dvořák", "headline": ARABIC, "summary": LATIN},
    "work": [
        {
            "organisation": CJK,
            "role": "Engineer",
            "highlights": [HEBREW, "Checks " + " ".join(SYMBOLS)],
        }
    ],
}
CASES = [("modern", "weasyprint"), ("modern", "chromium"), ("classic", "typst")]
IDS = [engine for _t, engine in CASES]
DATE = "2026-03-01T12:00:00Z"


def render(template: str, engine: str, **options: object) -> bytes:
    if engine == "chromium":
        require_chromium()
    renderer = Renderer(
        pdf_engine="chromium" if engine == "chromium" else "weasyprint", typst_font_dirs=[WQY]
    )
    data = Resume.model_validate(RESUME).model_dump(mode="json")
    try:
        return renderer.render(
            load_template(BUILTIN_DIR / template),
            data,
            "pdf",
            RenderOptions("a4", False, **options),  # type: ignore[arg-type]
        )
    finally:
        renderer.close()


@pytest.fixture(scope="module", params=CASES, ids=IDS)
def printed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    template, engine = request.param
    path = tmp_path_factory.mktemp(engine) / "resume.pdf"
    path.write_bytes(render(template, engine, created=DATE))
    return path


def poppler(tool: str, path: Path, *args: str) -> str:
    return subprocess.run(
        [tool, *args, str(path), *(["-"] if tool == "pdftotext" else [])],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_pdftotext_reads_every_script_in_logical_order(printed: Path) -> None:
    # Poppler orders right-to-left runs itself (and reads ActualText): it must find each
    # text as typed — no dotless letters (U+066E, U+06BA from a decomposed font), no
    # doubled letters, no word split by a glyph drawn apart.
    text = unicodedata.normalize("NFC", poppler("pdftotext", printed).replace("\u202b", ""))
    text = text.replace("\u202c", "")
    for sample in ("Zoë Ångström-Dvořák", ARABIC, HEBREW, CJK, LATIN, "EXPERIENCE"):
        assert sample in text, (sample, text)
    assert not re.search("[\u066e\u06ba\ufb50-\ufdff\ufe70-\ufeff]", text), text


def test_pdfminer_reads_the_right_letters(printed: Path) -> None:
    # pdfminer has no bidi algorithm: it gives right-to-left runs in the order the glyphs
    # stand on the page (left to right), so their words come reversed; the letters must
    # be the right ones.  Chromium's ToUnicode maps Arabic glyphs to presentation forms
    # and ligatures to U+FB0x (poppler reads its ActualText instead): NFKC is what any
    # search index applies, and gives the letters back.
    text = unicodedata.normalize("NFKC", extract_text(str(printed)))
    words = set(re.findall(r"\w+", text))
    for sample in ("Zoë", "Ångström", "Dvořák", "Crème", "brûlée", "office", "fiancé", "王小明"):
        assert sample in words, (sample, text)
    assert "データエンジニア" in text
    for sample in (*ARABIC.split(), *HEBREW.split()):
        assert sample in words or sample[::-1] in words, (sample, text)
    assert "\x00" not in text
    assert "(cid:" not in text


def test_symbols_and_emoji_print_from_bundled_fonts_only(printed: Path) -> None:
    text = poppler("pdftotext", printed)
    for symbol in SYMBOLS:
        assert symbol in text, (symbol, text)
    rows = poppler("pdffonts", printed).splitlines()[2:]
    families = {re.sub(r"^[A-Z]{6}\+", "", row.split()[0]) for row in rows}
    bundled = {re.sub(r"[^a-z0-9]", "", p.stem.lower()) for p in SHARED_FONTS_DIR.glob("*.ttf")} | {
        "wenquanyimicrohei",
        "libertinusserifregular",
        "libertinusserifbold",
    }

    def key(name: str) -> str:
        return re.sub(r"[^a-z0-9]", "", name.lower().removesuffix("-identity-h"))

    assert families, rows
    assert all(key(f) in bundled or f"{key(f)}regular" in bundled for f in families), families
    # The emoji and the symbols have glyphs of their own fonts, not a machine's.
    assert any("Emoji" in f for f in families), families
    assert any("Symbols2" in f.replace("-", "") for f in families), families
    assert all(row.split()[-5] == "yes" for row in rows), rows  # every font embedded


def test_every_engine_tags_its_pdf(printed: Path) -> None:
    assert re.search(r"^Tagged:\s+yes$", poppler("pdfinfo", printed), re.MULTILINE)
    with printed.open("rb") as file:
        catalog = PDFDocument(PDFParser(file)).catalog
        assert "StructTreeRoot" in catalog
        assert resolve1(catalog["MarkInfo"])["Marked"] is True


@pytest.mark.parametrize(("template", "engine"), CASES, ids=IDS)
def test_the_same_document_prints_the_same_bytes(template: str, engine: str) -> None:
    first = render(template, engine, created=DATE)
    second = render(template, engine, created=DATE)  # later: the clock has moved on
    assert hashlib.sha256(first).hexdigest() == hashlib.sha256(second).hexdigest()
    info = subprocess.run(
        ["pdfinfo", "-isodates", "-"], input=first, capture_output=True, check=True
    ).stdout.decode()
    assert re.search(r"^CreationDate:\s+2026-03-01T12:00:00", info, re.MULTILINE), info
    # Another date (the document changed) is another file.
    assert render(template, engine, created="2026-03-02T12:00:00Z") != first


def xmp_of(pdf: bytes) -> str:
    document = PDFDocument(PDFParser(io.BytesIO(pdf)))
    return resolve1(document.catalog["Metadata"]).get_data().decode()


@pytest.mark.parametrize(("template", "engine"), [CASES[0], CASES[2]], ids=[IDS[0], IDS[2]])
def test_pdf_a_2b_is_declared(template: str, engine: str) -> None:
    pdf = render(template, engine, pdf_standard="pdf/a-2b", created=DATE)
    xmp = xmp_of(pdf)
    assert re.search(r"pdfaid:part(>|=\")2", xmp), xmp
    assert re.search(r"pdfaid:conformance(>|=\")B", xmp), xmp
    document = PDFDocument(PDFParser(io.BytesIO(pdf)))
    intents = resolve1(document.catalog["OutputIntents"])
    assert resolve1(intents[0])["S"].name == "GTS_PDFA1"
    assert "StructTreeRoot" in document.catalog  # still tagged


def test_chromium_refuses_pdf_a_rather_than_pretend() -> None:
    with pytest.raises(TerminalJobError) as caught:
        render("modern", "chromium", pdf_standard="pdf/a-2b")
    assert caught.value.code == "pdf_standard_unsupported"


@pytest.fixture
def no_fontconfig_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FONTCONFIG_FILE", raising=False)
    return


def test_generic_families_resolve_to_bundled_fonts(no_fontconfig_env: None) -> None:
    # A template asking for "serif" or "monospace" still gets a bundled font: WeasyPrint
    # sees no machine font (the machine has DejaVu, which printed before).
    renderer = Renderer()
    template = load_template(BUILTIN_DIR / "modern")
    html = "<p style='font-family: serif'>Plain</p><p style='font-family: monospace'>Mono</p>"
    try:
        pdf = renderer._weasyprint_pdf(template, html, RenderOptions("a4", False))
    finally:
        renderer.close()
    fonts = subprocess.run(
        ["pdffonts", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    assert "DejaVu" not in fonts
    assert "Noto" in fonts, fonts

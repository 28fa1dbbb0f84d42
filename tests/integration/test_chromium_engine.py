"""The Chromium engine (EXPORTD_PDF_ENGINE=chromium): real PDFs from Debian's chromium,
read back; one warm browser, restarted after N jobs and after a crash; none left over."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import psutil
import pytest
from pypdf import PdfReader

from exportd.demo.resumes import RESUMES
from exportd.documents.chromium import chromium_executable
from exportd.documents.models import Resume
from exportd.documents.render import Renderer, RenderOptions
from exportd.documents.templates import builtin_catalogue
from exportd.errors import ConfigError, TerminalJobError
from tests.support.browser import require_chromium
from tests.support.pdfs import fonts_of

pytestmark = pytest.mark.slow

MODERN = builtin_catalogue().get("modern")
ALICE = Resume.model_validate(RESUMES["alice"]).model_dump(mode="json")


@pytest.fixture
def renderer() -> Iterator[Renderer]:
    require_chromium()
    engine = Renderer(pdf_engine="chromium", chromium_restart_after=3)
    yield engine
    engine.close()


def pdf_of(renderer: Renderer, *, paper: str = "a4", watermark: bool = False) -> PdfReader:
    assert MODERN is not None
    pdf = renderer.render(MODERN, ALICE, "pdf", RenderOptions(paper, watermark))  # type: ignore[arg-type]
    assert pdf.startswith(b"%PDF")
    return PdfReader(io.BytesIO(pdf))


def browsers() -> list[psutil.Process]:
    """Chromium's processes under this one (they come and go: one may vanish mid-look)."""
    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            if "chrom" in process.name().lower() and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except psutil.NoSuchProcess:
            continue
    return found


def main_browsers() -> set[int]:
    pids = set()
    for process in browsers():
        try:
            if "--type=" not in " ".join(process.cmdline()):
                pids.add(process.pid)
        except psutil.NoSuchProcess:
            continue
    return pids


def test_a4_and_letter_with_the_text_and_embedded_fonts(renderer: Renderer) -> None:
    a4 = pdf_of(renderer, paper="a4")
    letter = pdf_of(renderer, paper="letter")
    assert [round(float(v)) for v in a4.pages[0].mediabox.upper_right] == [595, 842]
    assert [round(float(v)) for v in letter.pages[0].mediabox.upper_right] == [612, 792]
    text = "".join(page.extract_text() for page in a4.pages)
    assert "Alice Martin" in text
    assert "EXPERIENCE" in text.upper()
    fonts = fonts_of(a4)
    assert fonts
    assert all(fonts.values()), f"every font is embedded: {fonts}"


def squeezed(reader: PdfReader) -> str:
    """The first page's text without whitespace: Chromium places each glyph of the
    rotated watermark on its own, and text extraction guesses line breaks inside it."""
    return "".join(reader.pages[0].extract_text().split())


def test_the_watermark_is_there_for_free_plans_only(renderer: Renderer) -> None:
    assert "PREVIEW" in squeezed(pdf_of(renderer, watermark=True))
    assert "PREVIEW" not in squeezed(pdf_of(renderer, watermark=False))


def test_one_warm_browser_restarted_after_n_jobs(renderer: Renderer) -> None:
    for _ in range(4):
        pdf_of(renderer)
    engine: Any = renderer._chromium
    assert engine.launches == 2  # three jobs on the first browser, the fourth on a new one
    assert len(main_browsers()) == 1


def test_a_crashed_browser_is_replaced_and_the_job_still_prints(renderer: Renderer) -> None:
    pdf_of(renderer)
    for process in browsers():
        process.kill()
    psutil.wait_procs(browsers(), timeout=10)
    assert "Alice Martin" in pdf_of(renderer).pages[0].extract_text()
    engine: Any = renderer._chromium
    assert engine.launches == 2


def test_closing_leaves_no_browser_running(renderer: Renderer) -> None:
    pdf_of(renderer)
    assert browsers()
    renderer.close()
    _gone, alive = psutil.wait_procs(browsers(), timeout=10)
    assert alive == []


def test_the_page_limit_holds(renderer: Renderer) -> None:
    assert MODERN is not None
    long = Resume.model_validate(
        {
            "profile": {"name": "Long"},
            "work": [
                {"organisation": f"C{i}", "role": "P", "highlights": ["line " * 80] * 3}
                for i in range(20)
            ],
        }
    ).model_dump(mode="json")
    with pytest.raises(TerminalJobError) as raised:
        renderer.render(MODERN, long, "pdf", RenderOptions("a4", False, max_pages=2))
    assert raised.value.code == "page_limit_exceeded"


def test_a_missing_browser_names_the_package() -> None:
    with pytest.raises(ConfigError, match="apt install chromium"):
        chromium_executable("/nonexistent/chromium")


def test_a_killed_worker_child_takes_its_browser_with_it(tmp_path: Any) -> None:
    """A child killed on its time limit must not leave a 600 MB browser behind."""
    require_chromium()
    script = tmp_path / "child.py"
    script.write_text(
        "import sys, time\n"
        "from exportd.demo.resumes import RESUMES\n"
        "from exportd.documents.models import Resume\n"
        "from exportd.documents.render import Renderer, RenderOptions\n"
        "from exportd.documents.templates import builtin_catalogue\n"
        "data = Resume.model_validate(RESUMES['alice']).model_dump(mode='json')\n"
        "Renderer(pdf_engine='chromium').render(\n"
        "    builtin_catalogue().get('modern'), data, 'pdf', RenderOptions('a4', False))\n"
        "print('rendered', flush=True)\n"
        "time.sleep(120)\n"
    )
    child = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "rendered"
        descendants = psutil.Process(child.pid).children(recursive=True)
        assert any("chrom" in p.name().lower() for p in descendants)
    finally:
        child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    _gone, alive = psutil.wait_procs(descendants, timeout=15)
    assert alive == []

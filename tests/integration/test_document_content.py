"""What the templates print, read back with poppler and pdfminer in every engine: links
are clickable (``/Link`` annotations, e-mail as ``mailto:``), long unbreakable text wraps
inside the page with every character kept, and dates never leave a stray dash."""

from __future__ import annotations

import html
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from pdfminer.pdfdocument import PDFDocument
from pdfminer.pdfpage import PDFPage
from pdfminer.pdfparser import PDFParser
from pdfminer.pdftypes import resolve1

from tests.support.engines import ENGINE_CASES, ENGINE_IDS, print_resume
from tests.support.pdfs import pdftotext

pytestmark = pytest.mark.slow

# Runs with no break opportunity in them (UAX #14): each must wrap, never run off the page.
WORD = "".join(chr(ord("a") + i % 26) for i in range(120))  # a 120-letter "word"
URL = "https://example.com/" + "/".join(f"segment{i:02d}" for i in range(14)) + "?q=" + "a" * 40
HASH = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"  # sha256, 64 hex
ENTITY = "&amp;&lt;&gt;&#x41;" * 10  # markup-looking text is text: printed as is, 190 chars
DASH = "\N{EN DASH}"
SKILL = "".join(chr(ord("A") + i % 26) for i in range(100))  # the longest skill: a chip
LONG = {"word": WORD, "url": URL, "hash": HASH, "entity": ENTITY, "skill": SKILL}

RESUME = {
    "profile": {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "links": [
            {"label": "Site", "url": "https://ada.example.org/"},
            {"label": "Mail", "url": "mailto:notes@example.org"},
            {"label": "Notes", "url": URL},
        ],
        "summary": f"A word {WORD} then a URL {URL} a hash {HASH} and {ENTITY} end.",
    },
    "work": [
        {"organisation": "Engines", "role": "Analyst", "start": "2019-01", "end": "2021-02"},
        {"organisation": "Mills", "role": "Programmer", "start": "2021-03"},
        # One month prints once, not as a range (the trader profile's one-month evaluations).
        {
            "organisation": "Looms",
            "role": "Consultant",
            "start": "2025-04",
            "end": "2025-04",
            "highlights": [f"Signed release {HASH}{HASH[:32]}"],
        },
    ],
    "education": [
        {"institution": "Home tuition", "qualification": "Mathematics"},  # no dates at all
        {"institution": "London Institution", "end": "1840"},  # only an end: printed once
    ],
    "skills": ["Mathematics", SKILL],
    "sections": [{"title": "Further", "items": [URL]}],
}


@dataclass(frozen=True)
class Printed:
    engine: str
    path: Path
    text: str  # pdftotext -layout


@pytest.fixture(scope="module", params=ENGINE_CASES, ids=ENGINE_IDS)
def printed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Printed:
    template, engine = request.param
    path = tmp_path_factory.mktemp(engine) / "resume.pdf"
    path.write_bytes(print_resume(template, engine, RESUME, watermark=False))
    return Printed(engine, path, pdftotext(path))


def link_uris(path: Path) -> list[str]:
    """The URI of every ``/Link`` annotation, page by page (pdfminer)."""
    uris = []
    with path.open("rb") as file:
        for page in PDFPage.create_pages(PDFDocument(PDFParser(file))):
            for ref in resolve1(page.annots) or []:
                annot = resolve1(ref)
                action = resolve1(annot.get("A")) or {}
                if resolve1(annot.get("Subtype")).name == "Link" and "URI" in action:
                    uris.append(resolve1(action["URI"]).decode())
    return uris


@dataclass(frozen=True)
class Word:
    x_min: float
    x_max: float
    text: str


def words_and_widths(path: Path) -> list[tuple[float, list[Word]]]:
    """Each page's width and its words' boxes in reading order (``pdftotext -bbox``)."""
    out = subprocess.run(
        ["pdftotext", "-bbox", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    pages = []
    for page in re.finditer(r'<page width="([\d.]+)"[^>]*>(.*?)</page>', out, re.S):
        words = [
            Word(float(x_min), float(x_max), html.unescape(text))
            for x_min, x_max, text in re.findall(
                r'<word xMin="([\d.-]+)" yMin="[\d.-]+" xMax="([\d.-]+)" [^>]*>(.*?)</word>',
                page[2],
            )
        ]
        pages.append((float(page[1]), words))
    return pages


def test_links_and_email_are_clickable(printed: Printed) -> None:
    uris = link_uris(printed.path)
    assert "mailto:ada@example.com" in uris  # the profile's e-mail
    assert {"https://ada.example.org/", "mailto:notes@example.org", URL} <= set(uris)
    flat = " ".join(printed.text.split())
    assert "Site: https://ada.example.org/" in flat  # printed too: a paper copy keeps it
    assert "Mail: notes@example.org" in flat  # shown without the scheme
    assert "mailto:" not in printed.text


@pytest.mark.parametrize("kind", LONG)
def test_long_unbreakable_text_wraps_inside_the_page(printed: Printed, kind: str) -> None:
    pages = words_and_widths(printed.path)
    assert pages
    for width, words in pages:
        outside = [w for w in words if w.x_min < 0 or w.x_max > width + 0.5]
        assert not outside, (printed.engine, width, outside[:3])
    joined = "".join(w.text for _width, words in pages for w in words)
    # Every character is there, in order, and nothing was added (no hyphen at a break).
    assert LONG[kind] in joined, (printed.engine, kind)


def test_dates_print_once_and_never_a_stray_dash(printed: Printed) -> None:
    text = printed.text
    assert f"2019-01 {DASH} 2021-02" in text
    assert f"2021-03 {DASH} present" in text
    assert f"2025-04 {DASH} 2025-04" not in text
    assert "2025-04" in text
    assert "1840" in text
    assert f"{DASH} 1840" not in text
    # The two real ranges are the only dashes: none for the undated education entry.
    assert text.count(DASH) == 2, [line for line in text.splitlines() if DASH in line]


HEADINGS = ("PROFILE", "EXPERIENCE", "EDUCATION", "SKILLS")


@pytest.mark.parametrize("bullets", range(20, 51))
def test_a_section_heading_is_never_left_alone_at_a_pages_foot(
    tmp_path: Path, bullets: int
) -> None:
    # Growing the work section walks the next headings down the page, across its foot.
    content = {
        "profile": {"name": "Ada Lovelace", "summary": "Analyst."},
        "work": [
            {
                "organisation": f"Mill {i}",
                "role": "Analyst",
                "start": "2019-01",
                "highlights": [f"Built the engine's table number {i}"],
            }
            for i in range(bullets)
        ],
        "education": [{"institution": "London Institution", "qualification": "Mathematics"}],
        "skills": ["Mathematics"],
    }
    path = tmp_path / "resume.pdf"
    path.write_bytes(print_resume("classic", "typst", content, watermark=False))
    for page in pdftotext(path).split("\f"):
        lines = [line.strip() for line in page.splitlines() if line.strip()]
        body = [line for line in lines if not re.fullmatch(r"\d+\s*/\s*\d+", line)]  # folio
        assert not body or body[-1] not in HEADINGS, f"page ends with {body[-1]!r}"

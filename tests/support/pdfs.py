"""Reading PDFs back: which fonts a file uses and whether each is embedded; the text as
poppler's pdftotext lays it out."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.support.databases import IN_CI


def pdftotext(path: Path) -> str:
    """The text of every page, laid out as on the page (``-layout``); a skip (locally) or
    a failure (in CI) when poppler-utils is missing."""
    program = shutil.which("pdftotext")
    if program is None:
        if IN_CI:
            pytest.fail("CI reads PDFs with pdftotext: .ci/run installs poppler-utils")
        pytest.skip("pdftotext is not installed here (apt-get install poppler-utils)")
    done = subprocess.run(
        [program, "-layout", str(path), "-"], capture_output=True, text=True, check=True
    )
    return done.stdout


def fonts_of(pdf: bytes | PdfReader) -> dict[str, bool]:
    """Each font used (its name without a subset's ``ABCDEF+`` tag) and whether its
    program is embedded in the file."""
    reader = pdf if isinstance(pdf, PdfReader) else PdfReader(io.BytesIO(pdf))
    fonts = {}
    for page in reader.pages:
        for ref in (page["/Resources"].get("/Font") or {}).values():
            font = ref.get_object()
            descriptor = font.get("/FontDescriptor")
            if descriptor is None and "/DescendantFonts" in font:
                descriptor = font["/DescendantFonts"][0].get_object().get("/FontDescriptor")
            program = descriptor.get_object() if descriptor is not None else {}
            embedded = any(k in program for k in ("/FontFile", "/FontFile2", "/FontFile3"))
            fonts[str(font.get("/BaseFont")).split("+")[-1]] = embedded
    return fonts

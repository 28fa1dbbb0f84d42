"""Reading PDFs back: which fonts a file uses and whether each is embedded."""

from __future__ import annotations

import io

from pypdf import PdfReader


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

"""LibreOffice Calc, headless, as a user's spreadsheet: opens files and saves them as
flat ODS (one XML file) where every cell says whether it is a formula.  Missing
locally: the tests skip; in CI they must run (Debian package libreoffice-calc)."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.databases import IN_CI

TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"


def require_libreoffice() -> str:
    """The program, or a skip (locally) or a failure (in CI) saying it is missing."""
    found = shutil.which("libreoffice") or shutil.which("soffice")
    if found:
        return found
    if IN_CI:
        pytest.fail("CI must open files with LibreOffice: .ci/run installs libreoffice-calc")
    pytest.skip("LibreOffice is not installed here (apt-get install libreoffice-calc)")


def csv_filter(delimiter: str, language: int, *, trim_spaces: bool) -> str:
    """The options of the "Text - txt - csv (StarCalc)" import filter, by position: field
    separator, text delimiter, character set (76 = UTF-8), first line, column formats
    (none: every column "Standard", so Calc guesses), language (1033 en-US, 1031
    de-DE), quoted field as text, detect special numbers, two export-only options,
    trim spaces, one export-only option, evaluate formulas.  Chosen to be as eager as
    a user's Calc can be: quoted fields are not forced to text and formulas run."""
    trim = "true" if trim_spaces else "false"
    return (
        f"Text - txt - csv (StarCalc):{ord(delimiter)},34,76,1,,{language},"
        f"false,true,false,false,{trim},,true"
    )


def to_flat_ods(
    program: str, files: list[Path], outdir: Path, profile: Path, infilter: str | None = None
) -> None:
    """Converts every file in one run (LibreOffice starts slowly).  Its own profile
    folder, so that runs in parallel never share one."""
    convert(program, files, outdir, profile, "fods", infilter)


def convert(
    program: str,
    files: list[Path],
    outdir: Path,
    profile: Path,
    target: str,
    infilter: str | None = None,
) -> None:
    """``soffice --convert-to TARGET`` of every file in one run (``pdf``: as printed)."""
    command = [
        program,
        f"-env:UserInstallation={profile.as_uri()}",
        "--headless",
        "--norestore",
        *([f"--infilter={infilter}"] if infilter else []),
        "--convert-to",
        target,
        "--outdir",
        str(outdir),
        *(str(f) for f in files),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, check=False)
    missing = [f.name for f in files if not (outdir / f"{f.stem}.{target}").exists()]
    assert done.returncode == 0, done.stderr
    assert not missing, (missing, done.stderr)


@dataclass(frozen=True, slots=True)
class Cell:
    value_type: str | None  # "string", "float", "date"… as Calc typed it; None when empty
    value: str | None  # a number's value, or a date's ("2026-03-01T12:30:00")
    formula: str | None  # "of:=1+1" when Calc made the cell a formula
    text: str  # what Calc shows

    @property
    def is_plain_text(self) -> bool:
        return self.formula is None and self.value_type == "string"


def read_first_sheet(path: Path) -> list[list[Cell]]:
    """The first sheet's rows of cells (repeated rows and cells spelled out)."""
    table = next(ET.parse(path).getroot().iter(f"{TABLE}table"))
    rows = []
    for row in table.iter(f"{TABLE}table-row"):
        cells: list[Cell] = []
        for cell in row.iter(f"{TABLE}table-cell"):
            repeat = int(cell.get(f"{TABLE}number-columns-repeated", "1"))
            cells.extend([_cell(cell)] * min(repeat, 1_000))
        while cells and cells[-1].value_type is None:
            cells.pop()  # Calc pads rows with empty cells to its last column
        repeat = int(row.get(f"{TABLE}number-rows-repeated", "1"))
        rows.extend([cells] * (min(repeat, 1_000) if cells else 1))
    while rows and not rows[-1]:
        rows.pop()
    return rows


def formulas_in(path: Path) -> list[str]:
    """Every formula anywhere in the document."""
    root = ET.parse(path).getroot()
    return [f for cell in root.iter(f"{TABLE}table-cell") if (f := cell.get(f"{TABLE}formula"))]


def _cell(cell: ET.Element) -> Cell:
    text = "\n".join(_shown(p) for p in cell.iter(f"{TEXT}p"))
    return Cell(
        value_type=cell.get(f"{OFFICE}value-type"),
        value=cell.get(f"{OFFICE}value") or cell.get(f"{OFFICE}date-value"),
        formula=cell.get(f"{TABLE}formula"),
        text=text,
    )


def _shown(element: ET.Element) -> str:
    """A paragraph's text, with ODF's elements for runs of spaces, tabs and breaks."""
    parts = [element.text or ""]
    for child in element:
        if child.tag == f"{TEXT}s":
            parts.append(" " * int(child.get(f"{TEXT}c", "1")))
        elif child.tag == f"{TEXT}tab":
            parts.append("\t")
        elif child.tag == f"{TEXT}line-break":
            parts.append("\n")
        else:
            parts.append(_shown(child))
        parts.append(child.tail or "")
    return "".join(parts)

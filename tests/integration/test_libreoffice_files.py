"""exportd's spreadsheet files as LibreOffice shows them (issue 24): XLSX printed to PDF
and read back with pdftotext, CSV for a locale opened by Calc set to that locale.

Two LibreOffice runs for the module (each starts the program: seconds): the XLSX files
of both writers to PDF; the de_DE CSV, with a comma file opened with the wrong
separator, in Calc's de-DE.  (en_US's ``3/13/2026 12:30:05`` read back as a date in
Calc's en-US too when tried; tests/unit/test_write_options.py holds the spellings.)"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from exportd.formats import OutputColumn, WriteOptions, open_writer, to_zone
from exportd.formats.xlsx import XlsxWriter
from exportd.formats.xlsx_fast import FastXlsxWriter
from tests.support.libreoffice import (
    Cell,
    convert,
    csv_filter,
    formulas_in,
    read_first_sheet,
    require_libreoffice,
)
from tests.support.pdfs import pdftotext

# Late in the day and in December: the widest a timestamp gets.
LATE = datetime(2026, 12, 28, 22, 58, 59, tzinfo=UTC)  # 23:58:59 in Paris
SHEET_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("symbol", pa.string()),
        ("opened_at", pa.timestamp("us", tz="UTC")),
        ("day", pa.date32()),
        ("pnl", pa.float64()),
        ("won", pa.bool_()),
        ("notes", pa.string()),
    ]
)
SHEET_COLUMNS = [
    OutputColumn("id", "Id"),
    OutputColumn("symbol", "Symbol"),
    OutputColumn("opened_at", "Opened at"),
    OutputColumn("day", "Trade day"),
    OutputColumn("pnl", "Realised profit and loss (EUR)"),
    OutputColumn("won", "Won"),
    OutputColumn("notes", "Notes"),
]
SHEET_ROWS = {
    "id": [1, 123456789012, 3],
    "symbol": ["AAPL", "BRK.B", "X"],
    "opened_at": [LATE, LATE, None],
    "day": [date(2026, 12, 28), None, date(2026, 1, 1)],
    "pnl": [-1234.56789, 12345678.25, 0.5],
    "won": [False, True, None],
    "notes": ["-42", "=1+1", "+2.5"],
}

# Numbers and dates as a locale's CSV writes them, and what Calc must read back.
LOCALE_SCHEMA = pa.schema(
    [
        ("pnl", pa.float64()),
        ("huge", pa.float64()),
        ("tiny", pa.float64()),
        ("odd", pa.float64()),
        ("amount", pa.decimal128(12, 2)),
        ("day", pa.date32()),
        ("at", pa.timestamp("us", tz="UTC")),
    ]
)
LOCALE_COLUMNS = [OutputColumn(f.name, f.name) for f in LOCALE_SCHEMA]
# 13 March: a day no spreadsheet can take for a month.  Berlin: UTC+1 then.
MARCH_13 = datetime(2026, 3, 13, 11, 30, 5, tzinfo=UTC)
LOCALE_ROWS = {
    "pnl": [-1234.5, 7.0],
    "huge": [1e25, -1.5e300],
    "tiny": [-1e-7, 0.1],
    "odd": [float("inf"), float("nan")],
    "amount": [Decimal("-0.50"), Decimal("1234567.89")],
    "day": [date(2026, 3, 13), date(2026, 1, 2)],
    "at": [MARCH_13, datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)],
}
WRONG_SEPARATOR = pa.schema([("id", pa.int64()), ("notes", pa.string())])


def write(path: Path, fmt: str, columns, schema, rows, options=None, **kw) -> object:  # type: ignore[no-untyped-def]
    zone = options.timezone if options else "UTC"
    with path.open("wb") as sink:
        writer = open_writer(fmt, sink, columns, to_zone(schema, zone), options, **kw)
        writer.write(to_zone(pa.RecordBatch.from_pydict(rows, schema=schema), zone))
        writer.close()
    return writer


@pytest.fixture(scope="module")
def shown(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    program = require_libreoffice()
    folder = tmp_path_factory.mktemp("libreoffice")
    files, out, profile = folder / "files", folder / "out", folder / "profile"
    files.mkdir()
    paris = WriteOptions(timezone="Europe/Paris")
    rows = len(SHEET_ROWS["id"])
    fast = write(files / "fast.xlsx", "xlsx", SHEET_COLUMNS, SHEET_SCHEMA, SHEET_ROWS, paris,
                 rows_expected=rows, title="Trades")  # fmt: skip
    slow = write(files / "xlsxwriter.xlsx", "xlsx", SHEET_COLUMNS, SHEET_SCHEMA, SHEET_ROWS, paris,
                 title="Trades")  # fmt: skip
    assert (type(fast), type(slow)) == (FastXlsxWriter, XlsxWriter)
    convert(program, [files / "fast.xlsx", files / "xlsxwriter.xlsx"], out, profile, "pdf")

    german = WriteOptions(delimiter=";", locale="de_DE", timezone="Europe/Berlin")
    write(files / "de.csv", "csv", LOCALE_COLUMNS, LOCALE_SCHEMA, LOCALE_ROWS, german)
    wrong = {"id": [1], "notes": ["first line\n=1+1"]}
    columns = [OutputColumn("id", "id"), OutputColumn("notes", "notes")]
    write(files / "comma.csv", "csv", columns, WRONG_SEPARATOR, wrong, WriteOptions())
    semicolon = csv_filter(";", 1031, trim_spaces=False)
    convert(program, [files / "de.csv", files / "comma.csv"], out, profile, "fods", semicolon)

    return {path.name: path for path in out.iterdir()}


@pytest.mark.parametrize("name", ["fast.pdf", "xlsxwriter.pdf"])
def test_every_value_and_header_shows_whole_when_printed(shown: dict[str, Path], name: str) -> None:
    text = pdftotext(shown[name])
    assert "###" not in text, text  # a column too narrow for its number or date
    for column in SHEET_COLUMNS:
        assert column.label in text, (column.label, text)  # no header cut at its edge
    assert "2026-12-28 23:58:59" in text  # the timestamp, in Paris
    assert "123456789012" in text
    # Text a spreadsheet could run is shown with its apostrophe; a plain signed number
    # cannot run and is shown as it is.
    assert "'=1+1" in text
    assert "-42" in text
    assert "'-42" not in text
    assert "+2.5" in text
    assert "'+2.5" not in text


def cells(path: Path) -> list[list[Cell]]:
    header, *rows = read_first_sheet(path)
    assert [c.text for c in header] == [c.label for c in LOCALE_COLUMNS]
    return rows


def number(cell: Cell) -> float:
    assert cell.value_type == "float", cell
    return float(cell.value or "nan")


def test_calc_in_the_locale_reads_numbers_and_dates_back(shown: dict[str, Path]) -> None:
    """Calc in de-DE, with "detect special numbers" (dates are text to it otherwise):
    "01.03.2026, 12:30:00" stayed text (the comma), 1e25 failed the export."""
    first, second = cells(shown["de.fods"])
    assert [number(c) for c in first[:3]] == [-1234.5, 1e25, -1e-7]
    assert [number(c) for c in second[:3]] == [7.0, -1.5e300, 0.1]
    assert (first[3].value_type, first[3].text) == ("string", "INF")  # Calc has none
    assert second[3].value_type is None  # NaN: empty, as in XLSX
    assert [number(first[4]), number(second[4])] == [-0.5, 1234567.89]
    assert [(c.value_type, c.value) for c in (first[5], second[5])] == [
        ("date", "2026-03-13"),
        ("date", "2026-01-02"),  # 2 January, not 1 February
    ]
    assert [(c.value_type, c.value) for c in (first[6], second[6])] == [
        ("date", "2026-03-13T12:30:05"),  # in Berlin
        ("date", "2026-01-02T04:04:05"),
    ]


def test_a_line_break_then_a_formula_runs_only_with_the_wrong_separator(
    shown: dict[str, Path],
) -> None:
    """The decision documented in docs/formats.md: a comma file opened as `;`-separated
    is split inside its quoted cell, and Calc evaluates the piece after the line break.
    Read with its own separator the cell is one text (tests/security/
    test_libreoffice_formulas.py's "x\\n=1+1")."""
    assert any(f.startswith("of:=1+1") for f in formulas_in(shown["comma.fods"]))

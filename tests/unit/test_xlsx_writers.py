"""The two XLSX writers: the same cells from either, the fast one's sheets counted up
front, its thread and temporary file released however the export ends."""

from __future__ import annotations

import io
import os
import threading
import xml.etree.ElementTree as ET
import zipfile
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from time import time as wall_clock

import openpyxl
import pyarrow as pa
import pytest

from exportd.errors import RetryableJobError, TerminalJobError, classify
from exportd.formats import OutputColumn, xlsx_fast
from exportd.formats.xlsx import XlsxWriter, open_xlsx
from exportd.formats.xlsx_fast import FastXlsxWriter
from exportd.formats.xlsx_layout import column_widths, sheet_name

SCHEMA = pa.schema(
    [
        ("n", pa.int64()),
        ("x", pa.float64()),
        ("ok", pa.bool_()),
        ("day", pa.date32()),
        ("at", pa.timestamp("us")),
        ("paris", pa.timestamp("us", tz="Europe/Paris")),
        ("amount", pa.decimal128(12, 2)),
        ("clock", pa.time64("us")),
        ("blob", pa.binary()),
        ("text", pa.dictionary(pa.int8(), pa.string())),
    ]
)
COLUMNS = [OutputColumn(f.name, f.name.title()) for f in SCHEMA]
MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
NOON = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)  # 12:00 in Paris (summer time)
BATCH = pa.RecordBatch.from_pydict(
    {
        "n": [1, None, -7],
        "x": [1.5, float("nan"), float("-inf")],
        "ok": [True, False, None],
        "day": [date(2026, 7, 1), None, date(1999, 12, 31)],
        "at": [datetime(2026, 7, 1, 9, 30), None, None],
        "paris": [NOON, None, NOON],
        "amount": [Decimal("12.34"), None, Decimal("-0.50")],
        "clock": [time(8, 15), None, None],
        "blob": [b"\xff\x00", None, b"ok"],
        "text": ["=cmd()", None, "plain"],
    },
    SCHEMA,
)
EXPECTED = [
    ("N", "X", "Ok", "Day", "At", "Paris", "Amount", "Clock", "Blob", "Text"),
    (
        1,
        1.5,
        True,
        datetime(2026, 7, 1),
        datetime(2026, 7, 1, 9, 30),
        datetime(2026, 7, 1, 12, 0),
        12.34,
        "08:15:00.000000",
        "ff00",
        "'=cmd()",
    ),
    (None, None, False, None, None, None, None, None, None, None),
    (
        -7,
        "-INF",
        None,
        datetime(1999, 12, 31),
        None,
        datetime(2026, 7, 1, 12),
        -0.5,
        None,
        "6f6b",
        "plain",
    ),
]


def fast(
    sink: io.BytesIO, columns: list[OutputColumn] = COLUMNS, sheets: int = 1
) -> FastXlsxWriter:
    return FastXlsxWriter(sink, columns, SCHEMA, sheets=sheets)


def python(sink: io.BytesIO) -> XlsxWriter:
    return XlsxWriter(sink, COLUMNS)


def sheets_of(data: bytes) -> dict[str, list[tuple[object, ...]]]:
    book = openpyxl.load_workbook(io.BytesIO(data))
    return {name: list(book[name].iter_rows(values_only=True)) for name in book.sheetnames}


def xlsx_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "xlsx"]


@pytest.mark.parametrize("open_one", [fast, python], ids=["fast", "xlsxwriter"])
def test_both_writers_write_the_same_cells(open_one) -> None:  # type: ignore[no-untyped-def]
    sink = io.BytesIO()
    writer = open_one(sink)
    writer.write(BATCH)
    writer.close()
    book = openpyxl.load_workbook(io.BytesIO(sink.getvalue()))
    sheet = book["Sheet1"]
    assert list(sheet.iter_rows(values_only=True)) == EXPECTED
    assert sheet["D2"].number_format == "yyyy-mm-dd"
    assert sheet["E2"].number_format == "yyyy-mm-dd hh:mm:ss"
    assert sheet["A1"].font.bold


def test_the_fast_writer_continues_on_the_sheets_it_counted(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(xlsx_fast, "SHEET_ROWS", 2)
    sink = io.BytesIO()
    writer = fast(sink, sheets=2)
    writer.write(BATCH.slice(0, 1))
    writer.write(BATCH.slice(1, 2))  # the second sheet starts inside this batch
    writer.close()
    sheets = sheets_of(sink.getvalue())
    assert list(sheets) == ["Sheet1", "Sheet2"]
    assert [rows[0][0] for rows in sheets.values()] == ["N", "N"]  # the header again
    assert [r[0] for rows in sheets.values() for r in rows[1:]] == [1, None, -7]


def test_more_rows_than_counted_is_a_retryable_error(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(xlsx_fast, "SHEET_ROWS", 2)
    writer = fast(io.BytesIO(), sheets=1)
    with pytest.raises(RetryableJobError) as caught:
        writer.write(BATCH)
    assert caught.value.code == "rows_changed"
    writer.abort()
    assert not os.path.exists(writer._path)


def test_no_rows_still_writes_the_header() -> None:
    sink = io.BytesIO()
    writer = fast(sink)
    writer.close()
    assert sheets_of(sink.getvalue()) == {"Sheet1": [EXPECTED[0]]}
    assert not os.path.exists(writer._path)


def test_abort_stops_the_thread_and_removes_the_file() -> None:
    sink = io.BytesIO()
    writer = fast(sink)
    writer.write(BATCH)
    assert xlsx_threads()
    writer.abort()
    writer.abort()  # twice is harmless
    assert not xlsx_threads()
    assert not os.path.exists(writer._path)
    assert sink.getvalue() == b""


def test_a_failing_writer_thread_is_reported_not_waited_on(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def broken(sheets, path, **options):  # type: ignore[no-untyped-def]
        next(iter(sheets[0][1]))  # takes a row, then fails
        raise OSError("disk full")

    monkeypatch.setattr(xlsx_fast.rx, "write_worksheets", broken)
    writer = fast(io.BytesIO())

    def write_all() -> None:
        for _ in range(10):  # the queue fills; the writer notices the thread stopped
            writer.write(BATCH)
        writer.close()

    with pytest.raises(OSError, match="disk full"):
        write_all()
    writer.abort()
    assert not xlsx_threads()
    assert not os.path.exists(writer._path)


def test_close_copies_the_file_and_removes_the_temporary_one(tmp_path: Path) -> None:
    sink = io.BytesIO()
    writer = fast(sink)
    writer.write(BATCH)
    writer.close()
    assert sink.getvalue()[:2] == b"PK"
    assert not os.path.exists(writer._path)
    assert not xlsx_threads()


@pytest.mark.parametrize(
    ("expected", "allowed", "columns", "writer", "sheets"),
    [
        (10, 1_000_000, COLUMNS, FastXlsxWriter, 1),
        (3_000_000, 5_000_000, COLUMNS, FastXlsxWriter, 3),
        (3_000_000, 1_000, COLUMNS, FastXlsxWriter, 1),  # the plan stops it first
        (0, None, COLUMNS, FastXlsxWriter, 1),
        (None, 100_000, COLUMNS, FastXlsxWriter, 1),  # uncounted, but fits a sheet
        (None, 5_000_000, COLUMNS, XlsxWriter, None),  # uncounted: sheets unknown
        (None, None, COLUMNS, XlsxWriter, None),
        (10, None, [OutputColumn("n", "A"), OutputColumn("x", "A")], XlsxWriter, None),
    ],
)
def test_the_fast_writer_is_chosen_when_its_sheets_can_be_counted(  # type: ignore[no-untyped-def]
    expected, allowed, columns, writer, sheets
) -> None:
    chosen = open_xlsx(io.BytesIO(), columns, SCHEMA, rows_expected=expected, rows_allowed=allowed)
    assert type(chosen) is writer
    if sheets is not None:
        assert chosen._sheets == sheets  # type: ignore[union-attr]
    chosen.abort()


def test_xlsxwriter_abort_removes_its_sheet_files() -> None:
    writer = python(io.BytesIO())
    writer.write(BATCH)
    spooled = [sheet.row_data_filename for sheet in writer.workbook.worksheets()]
    assert all(os.path.exists(path) for path in spooled)
    writer.abort()
    assert not any(os.path.exists(path) for path in spooled)


def test_both_writers_spool_in_one_folder() -> None:
    from exportd.formats.xlsx import spool_dir

    fast_writer, python_writer = fast(io.BytesIO()), python(io.BytesIO())
    python_writer.write(BATCH)
    try:
        assert Path(fast_writer._path).parent == spool_dir()
        # XlsxWriter's in a folder of its own there, which the sweep also takes.
        row_data = Path(python_writer.workbook.worksheets()[0].row_data_filename)
        assert row_data.parent.parent == spool_dir()
    finally:
        fast_writer.abort()
        python_writer.abort()


def test_the_sweep_takes_what_a_killed_child_left_and_nothing_in_use(tmp_path: Path) -> None:
    """A file is stale when untouched for a day.  XlsxWriter dates the parts it is
    zipping to 1980: the sweep of a child starting meanwhile must not take them."""
    from exportd.formats.xlsx import STALE_AFTER_S, remove_stale_spool

    left_behind = tmp_path / "killed-child.xlsx"
    left_behind.write_bytes(b"PK")
    being_zipped = tmp_path / "tmpk1l0part"
    being_zipped.write_bytes(b"<xml/>")
    dated_1980 = datetime(1980, 1, 31).timestamp()
    os.utime(being_zipped, (dated_1980, dated_1980))

    assert remove_stale_spool(folder=tmp_path) == 0
    assert being_zipped.exists()
    assert left_behind.exists()
    a_day_later = wall_clock() + STALE_AFTER_S + 60
    assert remove_stale_spool(now=a_day_later, folder=tmp_path) == 2
    assert not any(tmp_path.iterdir())


def test_the_sweep_takes_a_stale_workbook_folder_and_spares_one_in_use(tmp_path: Path) -> None:
    """XlsxWriter spools in a folder of its own: one a killed child left goes after a
    day; one whose files still change does not, however old the folder itself is."""
    from exportd.formats.xlsx import STALE_AFTER_S, remove_stale_spool

    for name in ("left-behind", "in-use"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "rows").write_bytes(b"<row/>")
    a_day_later = wall_clock() + STALE_AFTER_S + 60
    # Still being written a day on: its file changed just now (as seen from then).
    in_use = tmp_path / "in-use" / "rows"
    real_stat = Path.stat

    def stat(path: Path, **kw):  # type: ignore[no-untyped-def]
        found = real_stat(path, **kw)
        if path == in_use:
            return os.stat_result((*found[:9], a_day_later))  # st_ctime
        return found

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Path, "stat", stat)
        assert remove_stale_spool(now=a_day_later, folder=tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in-use"]


def test_both_writers_agree_on_every_width_and_unit() -> None:
    """Other integer and float widths, time units, pre-1900 times, large strings."""
    widths = pa.schema(
        [
            ("i8", pa.int8()),
            ("u64", pa.uint64()),
            ("f32", pa.float32()),
            ("d64", pa.date64()),
            ("ms", pa.timestamp("ms")),
            ("ns", pa.timestamp("ns", tz="UTC")),
            ("nothing", pa.null()),
            ("large", pa.large_string()),
            ("old", pa.timestamp("us")),  # Excel's dates start in 1900
        ]
    )
    batch = pa.RecordBatch.from_pydict(
        {
            "i8": [-128, None],
            "u64": [2**53, None],
            "f32": [0.5, None],
            "d64": [date(2026, 2, 28), None],
            "ms": [datetime(2026, 1, 2, 3, 4, 5, 678000), None],
            "ns": [NOON, None],
            "nothing": [None, None],
            "large": ["@sum", None],
            "old": [datetime(1850, 5, 5, 1, 2, 3), datetime(1900, 1, 15, 6)],
        },
        widths,
    )
    columns = [OutputColumn(f.name, f.name) for f in widths]
    written = []
    for writer_of in (
        lambda sink: FastXlsxWriter(sink, columns, widths, sheets=1),
        lambda sink: XlsxWriter(sink, columns),
    ):
        sink = io.BytesIO()
        writer = writer_of(sink)
        writer.write(batch)
        writer.close()
        written.append(sheets_of(sink.getvalue()))
    assert written[0] == written[1]
    assert written[0]["Sheet1"][1][-2] == "'@sum"
    assert written[0]["Sheet1"][1][4] == datetime(2026, 1, 2, 3, 4, 5, 678000)


def written_by_both(
    batch: pa.RecordBatch, columns: list[OutputColumn], *, title: str | None = None
) -> list[bytes]:
    files = []
    for writer_of in (
        lambda sink: FastXlsxWriter(sink, columns, batch.schema, sheets=1, title=title),
        lambda sink: XlsxWriter(sink, columns, title=title),
    ):
        sink = io.BytesIO()
        writer = writer_of(sink)
        writer.write(batch)
        writer.close()
        files.append(sink.getvalue())
    return files


def cells_in(data: bytes) -> dict[str, str]:
    """Every cell the first sheet's XML holds, by reference: its type attribute."""
    sheet = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
    found = ET.fromstring(sheet).iter(f"{MAIN}c")
    return {cell.get("r", ""): cell.get("t", "n") for cell in found}


def widths_in(data: bytes) -> list[float]:
    """The first sheet's column widths, one per column (``<col>`` may span several)."""
    sheet = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
    widths = []
    for col in ET.fromstring(sheet).iter(f"{MAIN}col"):
        span = int(col.get("max", "0")) - int(col.get("min", "0")) + 1
        widths += [float(col.get("width", "0"))] * span
    return widths


def test_an_empty_text_is_no_cell_from_either_writer() -> None:
    """XlsxWriter wrote an empty string cell where rust_xlsxwriter wrote none."""
    schema = pa.schema([("t", pa.string()), ("n", pa.int64())])
    batch = pa.record_batch({"t": ["", None, "x", ""], "n": [1, 2, 3, 4]}, schema=schema)
    columns = [OutputColumn("t", "T"), OutputColumn("n", "N")]
    fast_file, python_file = written_by_both(batch, columns)
    assert cells_in(fast_file).keys() == cells_in(python_file).keys()
    assert {"A2", "A3", "A5"}.isdisjoint(cells_in(python_file))
    assert "A4" in cells_in(python_file)


def test_both_writers_name_freeze_filter_and_size_their_sheets_alike() -> None:
    fast_file, python_file = written_by_both(BATCH, COLUMNS, title="Daily P&L: 2026/03")
    layouts = []
    for data in (fast_file, python_file):
        book = openpyxl.load_workbook(io.BytesIO(data))
        sheet = book.worksheets[0]
        layouts.append(
            (book.sheetnames, sheet.freeze_panes, sheet.auto_filter.ref, widths_in(data))
        )
    assert layouts[0] == layouts[1]
    names, frozen, filtered, widths = layouts[0]
    assert names == ["Daily P&L  2026 03"]  # ":" and "/" are not allowed in a name
    assert frozen == "A2"  # the header row stays in view
    assert filtered == "A1:J4"  # the header and the rows
    at, paris = widths[4], widths[5]
    assert at == paris
    assert at >= 20
    assert min(widths) >= 6


def test_sheets_past_the_first_are_numbered_and_filtered_over_their_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(xlsx_fast, "SHEET_ROWS", 2)
    layouts = []
    for writer_of in (
        lambda sink: FastXlsxWriter(sink, COLUMNS, SCHEMA, sheets=2, title="Trades"),
        lambda sink: XlsxWriter(sink, COLUMNS, max_rows=3, title="Trades"),
    ):
        sink = io.BytesIO()
        writer = writer_of(sink)
        writer.write(BATCH)
        writer.close()
        book = openpyxl.load_workbook(sink)
        layouts.append([(s.title, s.freeze_panes, s.auto_filter.ref) for s in book.worksheets])
    assert layouts[0] == layouts[1] == [("Trades", "A2", "A1:J3"), ("Trades (2)", "A2", "A1:J2")]


def test_a_sheet_with_no_rows_is_laid_out_for_its_header() -> None:
    sink = io.BytesIO()
    writer = FastXlsxWriter(sink, COLUMNS, SCHEMA, sheets=1, title="Trades")
    writer.close()  # no rows: XlsxWriter writes the header
    sheet = openpyxl.load_workbook(sink)["Trades"]
    assert (sheet.freeze_panes, sheet.auto_filter.ref) == ("A2", "A1:J1")


@pytest.mark.parametrize(
    ("title", "number", "name"),
    [
        (None, 1, "Sheet1"),
        (None, 3, "Sheet3"),
        ("Trades", 1, "Trades"),
        ("Trades", 2, "Trades (2)"),
        ("[Q1] a/b\\c:d*e?f", 1, "Q1  a b c d e f"),
        ("'quoted'", 1, "quoted"),
        ("History", 1, "History 1"),  # Excel keeps that name for itself
        ("x" * 40, 1, "x" * 31),
        ("x" * 40, 12, "x" * 26 + " (12)"),
        ("\x00\t ", 1, "Sheet1"),
    ],
)
def test_sheet_names_are_the_title_as_excel_takes_it(
    title: str | None, number: int, name: str
) -> None:
    assert sheet_name(title, number) == name


def test_widths_follow_header_and_first_batch_within_bounds() -> None:
    arrays = [
        pa.array([1, -123456]),  # seven characters, and two more digits to come
        pa.array(["a" * 500]),  # long text: bounded
        pa.array(["日本語"]),  # three characters, each two digits wide
        pa.array([None], pa.string()),
        pa.array([0.1 + 0.2, float("inf")]),  # 0.30000000000000004: General shows less
    ]
    widths = column_widths(["n", "notes", "x", "A header that is long", "f"], arrays)
    assert widths == [10.0, 51.0, 7.0, 26.1, 16.0]


@pytest.mark.parametrize("rows", [1, None], ids=["fast", "xlsxwriter"])
def test_a_date_past_9999_fails_the_export_for_good(rows: int | None) -> None:
    schema = pa.schema([("at", pa.timestamp("s"))])
    writer = open_xlsx(io.BytesIO(), [OutputColumn("at", "Opened")], schema, rows_expected=rows)
    with pytest.raises(TerminalJobError) as caught:
        writer.write(pa.record_batch({"at": pa.array([10**13], pa.timestamp("s"))}))
    writer.abort()
    info = classify(caught.value)
    assert (info.code, info.retryable) == ("value_unwritable", False)
    assert "'Opened'" in info.message

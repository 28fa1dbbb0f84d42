"""Each writer round-trips: read back with csv, json, openpyxl and pyarrow."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exportd.formats import OutputColumn, WriteOptions, open_writer
from exportd.formats.safety import (
    neutralise,
    neutralise_array,
    neutralise_cells,
    neutralise_vectorised,
)

SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("symbol", pa.string()),
        ("pnl", pa.float64()),
        ("opened_at", pa.timestamp("us", tz="UTC")),
    ]
)
COLUMNS = [
    OutputColumn("id", "id"),
    OutputColumn("symbol", "Symbol"),
    OutputColumn("pnl", "P&L"),
    OutputColumn("opened_at", "Opened"),
]
WHEN = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
ROWS = {
    "id": [1, 2, 3, 4],
    "symbol": ["AAPL", '=HYPERLINK("http://x")', None, "日本語 ✓ " + "x" * 5000],
    "pnl": [1.5, -2.25, None, 0.0],
    "opened_at": [WHEN, WHEN, None, WHEN],
}


def write(fmt: str, batches: list[pa.RecordBatch], columns: list[OutputColumn] = COLUMNS) -> bytes:
    sink = io.BytesIO()
    writer = open_writer(fmt, sink, columns, SCHEMA)
    for batch in batches:
        writer.write(batch)
    writer.close()
    return sink.getvalue()


def batch(rows: dict[str, list[object]] = ROWS) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(rows, schema=SCHEMA)


def test_csv_round_trip_neutralises_formulas() -> None:
    text = write("csv", [batch(), batch()]).decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["id", "Symbol", "P&L", "Opened"]
    assert len(rows) == 9
    assert rows[2][1] == '\'=HYPERLINK("http://x")'
    assert rows[3][1] == ""  # null
    assert rows[4][1].endswith("x" * 5000)
    assert rows[2][2] == "-2.25"  # a negative number is a number, not a formula


def test_jsonl_and_json_round_trip() -> None:
    lines = write("jsonl", [batch()]).decode().splitlines()
    assert len(lines) == 4
    first = json.loads(lines[0])
    assert first == {"id": 1, "Symbol": "AAPL", "P&L": 1.5, "Opened": "2026-03-01T12:30:00Z"}
    assert json.loads(lines[2])["Symbol"] is None
    document = json.loads(write("json", [batch(), batch()]))
    assert len(document) == 8
    assert document[1]["Symbol"] == '=HYPERLINK("http://x")'  # JSON is data, not a sheet
    assert json.loads(write("json", [])) == []


def test_parquet_round_trip_keeps_types() -> None:
    table = pq.read_table(io.BytesIO(write("parquet", [batch(), batch()])))
    assert table.column_names == ["id", "Symbol", "P&L", "Opened"]
    assert table.num_rows == 8
    assert table.schema.field("Opened").type == pa.timestamp("us", tz="UTC")
    assert table.column("P&L").to_pylist()[:2] == [1.5, -2.25]


def test_parquet_keeps_dictionaries_for_text_only() -> None:
    metadata = pq.ParquetFile(io.BytesIO(write("parquet", [batch()]))).metadata.row_group(0)
    encodings = {metadata.column(i).path_in_schema: metadata.column(i).encodings for i in range(4)}
    assert "RLE_DICTIONARY" in encodings["Symbol"]
    assert "RLE_DICTIONARY" not in encodings["P&L"]
    assert "RLE_DICTIONARY" not in encodings["Opened"]


def test_xlsx_round_trip_keeps_types_and_neutralises() -> None:
    book = openpyxl.load_workbook(io.BytesIO(write("xlsx", [batch()])), read_only=True)
    rows = list(book["Sheet1"].iter_rows(values_only=True))
    assert rows[0] == ("id", "Symbol", "P&L", "Opened")
    assert rows[1][0] == 1
    assert rows[1][2] == 1.5
    assert rows[1][3] == datetime(2026, 3, 1, 12, 30)
    assert rows[2][1] == '\'=HYPERLINK("http://x")'
    assert rows[3][1] is None


def test_xlsx_continues_on_a_new_sheet_at_the_row_limit() -> None:
    from exportd.formats.xlsx import XlsxWriter

    sink = io.BytesIO()
    writer = XlsxWriter(sink, COLUMNS, max_rows=3)  # header + 2 rows a sheet
    writer.write(batch())
    writer.close()
    book = openpyxl.load_workbook(io.BytesIO(sink.getvalue()), read_only=True)
    assert book.sheetnames == ["Sheet1", "Sheet2"]
    data = [r for name in book.sheetnames for r in list(book[name].iter_rows(values_only=True))[1:]]
    assert [r[0] for r in data] == [1, 2, 3, 4]  # nothing lost


@pytest.mark.parametrize(
    "text",
    [
        *("=1+1", "+A1", "-A1", "@SUM(A1)", "\tx", "\rx", "\nx"),
        # Signs before anything but a plain number: an expression, an exponent, a
        # second point, a space, a line.
        *("-1+1", "+1e5", "-1.5.5", "-1.", "- 1", "-1\n", "-1 ", "+\uff11"),
        # What importers drop or skip before a formula: controls (LibreOffice ran
        # "\x00=SUM(40;2)"), spaces of every kind, marks, a byte-order mark.
        *("\x00=SUM(40;2)", "\x00\x00+1", "\x01=1", "\x1f-1", "\x7f=1", "\x85@A1", "\x9f=1"),
        *(" =1+1", "   -1", "\u00a0=1", "\ufeff=1", "\u2007=1", "\u200b=1", "\u3000=1"),
        *("\x00 \u00a0\ufeff\u202f=1", " \tx", "\x00\n", "\u2028\r"),
        # Full-width signs, which Japanese and Chinese input methods type.
        *("\uff1d1+1", "\uff0b1", "\uff0d1", "\uff20SUM(A1)", "\x00\uff1d1"),
    ],
)
def test_every_dangerous_start_is_neutralised(text: str) -> None:
    assert neutralise(text) == "'" + text
    for neutralised in (neutralise_cells, neutralise_vectorised):
        assert neutralised(pa.array([text])).to_pylist() == ["'" + text]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\x00",
        " ",
        "\u00a0\x00",
        "a=b",
        "x\x00=1",
        "'=1+1",
        "1-2",
        "\u00a35",
        "\u3001=",
        "\uff1e1",
        # A signed plain number: read as that number, it runs nothing (issue 24: the
        # apostrophe showed in XLSX as "'-1").
        "-1",
        "+1",
        "-0.5",
        "+12345678901234567890.25",
    ],
)
def test_text_that_cannot_start_a_formula_is_left_alone(text: str) -> None:
    assert neutralise(text) == text
    for neutralised in (neutralise_cells, neutralise_vectorised):
        assert neutralised(pa.array([text])).to_pylist() == [text]


# The characters the rule turns on, and their neighbours (bytes that share a first byte).
EDGES = (
    "=+-@.1\t\r\n \x00\x01\x7f\x85\xa0\xa3\xad\u061c\u1680\u2007\u200b\u2028\u2070"
    "\u3000\u3001あ\ufeff\uff1d\uff1ea"
)


ODD_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=200)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.one_of(st.none(), st.text(max_size=4)), max_size=12),
    large=st.booleans(),
)
def test_a_column_is_neutralised_as_each_cell_would_be(
    values: list[str | None], large: bool
) -> None:
    # A batch's column is often a slice of a longer array: start one cell in.
    whole = pa.array(["=lead", *values], pa.large_string() if large else pa.string())
    array = whole.slice(1)
    for neutralised in (neutralise_cells, neutralise_vectorised):
        done = neutralised(array)
        assert done.type == array.type
        assert done.to_pylist() == [None if v is None else neutralise(v) for v in values]


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.one_of(st.none(), st.text(alphabet=EDGES, max_size=4)), max_size=12),
    large=st.booleans(),
)
def test_a_column_of_edge_characters_is_neutralised_as_each_cell_would_be(
    values: list[str | None], large: bool
) -> None:
    whole = pa.array(["\u3000lead", *values], pa.large_string() if large else pa.string())
    for neutralised in (neutralise_cells, neutralise_vectorised):
        done = neutralised(whole.slice(1))
        assert done.to_pylist() == [None if v is None else neutralise(v) for v in values]


def test_a_dictionary_column_is_neutralised_through_its_dictionary() -> None:
    array = pa.array(["\x00=SUM(40;2)", "AAPL", None, "\x00=SUM(40;2)"]).dictionary_encode()
    done = neutralise_array(array)
    assert pa.types.is_dictionary(done.type)
    assert done.to_pylist() == ["'\x00=SUM(40;2)", "AAPL", None, "'\x00=SUM(40;2)"]
    plain = pa.array(["AAPL", "MSFT"]).dictionary_encode()
    assert neutralise_array(plain) is plain


@pytest.mark.parametrize(
    ("fmt", "options", "rows"),
    [
        ("csv", WriteOptions(), None),
        ("csv", WriteOptions(delimiter=";", locale="de_DE"), None),
        ("xlsx", None, None),  # XlsxWriter
        ("xlsx", None, 1),  # the fast writer (the rows counted)
    ],
)
def test_a_nul_before_a_formula_is_neutralised_in_values_and_headers(
    fmt: str, options: WriteOptions | None, rows: int | None
) -> None:
    schema = pa.schema([("text", pa.string()), ("pnl", pa.float64())])
    columns = [OutputColumn("text", "\u00a0=1+1"), OutputColumn("pnl", "\x00@SUM(1)")]
    sink = io.BytesIO()
    writer = open_writer(fmt, sink, columns, schema, options, rows_expected=rows)
    writer.write(pa.record_batch({"text": ["\x00=SUM(40;2)"], "pnl": [-1.5]}, schema=schema))
    writer.close()
    if fmt == "csv":
        delimiter = options.delimiter if options else ","
        read = list(
            csv.reader(io.StringIO(sink.getvalue().decode(), newline=""), delimiter=delimiter)
        )
    else:
        read = list(openpyxl.load_workbook(sink, read_only=True).active.values)
    (header_text, header_pnl), (text, pnl) = read
    assert header_text == "'\u00a0=1+1"
    assert header_pnl in ("'\x00@SUM(1)", "'_x0000_@SUM(1)")  # OOXML's escape for NUL
    assert text in ("'\x00=SUM(40;2)", "'_x0000_=SUM(40;2)")
    assert pnl in (-1.5, "-1.5", "-1,5")  # a number stays a number, its sign kept


def test_a_column_with_nothing_risky_comes_back_as_it_was() -> None:
    array = pa.array(["AAPL", None, "", "a=b", "日本", "\u00a35", "\u3001"])
    assert neutralise_array(array) is array
    numbers = pa.array([-1.5, 2.0])
    assert neutralise_array(numbers) is numbers


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(values=st.lists(st.one_of(st.none(), ODD_TEXT), min_size=1, max_size=20))
def test_odd_strings_survive_every_format(values: list[str | None]) -> None:
    n = len(values)
    rows = {"id": list(range(n)), "symbol": values, "pnl": [0.0] * n, "opened_at": [WHEN] * n}
    data = batch(rows)
    expected = [neutralise(v) if v else v for v in values]
    # JSON Lines end at "\n" only: U+2028 and friends are legal inside a JSON string.
    lines = write("jsonl", [data]).decode().split("\n")[:-1]
    jsonl = [json.loads(line)["Symbol"] for line in lines]
    assert jsonl == values
    parquet = pq.read_table(io.BytesIO(write("parquet", [data]))).column("Symbol").to_pylist()
    assert parquet == values
    parsed = list(csv.reader(io.StringIO(write("csv", [data]).decode(), newline="")))[1:]
    assert [row[1] for row in parsed] == [v or "" for v in expected]

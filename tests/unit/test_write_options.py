"""Write options: CSV delimiter, BOM, line ends and locale, and the timezone timestamps
are shown in."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path

import duckdb
import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from exportd.errors import TerminalJobError, classify
from exportd.formats import OutputColumn, WriteOptions, open_writer, to_zone
from exportd.formats.localized import spelling
from tests.unit.test_formats import COLUMNS, SCHEMA, batch


def write(fmt: str, options: WriteOptions) -> bytes:
    sink = io.BytesIO()
    schema = to_zone(SCHEMA, options.timezone)
    writer = open_writer(fmt, sink, COLUMNS, schema, options)
    writer.write(to_zone(batch(), options.timezone))
    writer.close()
    return sink.getvalue()


def write_values(fmt: str, options: WriteOptions, *, pnl: float) -> str:
    rows = {"id": [1], "symbol": ["X"], "pnl": [pnl], "opened_at": [None]}
    sink = io.BytesIO()
    writer = open_writer(fmt, sink, COLUMNS, SCHEMA, options)
    writer.write(batch(rows))
    writer.close()
    return sink.getvalue().decode()


def test_csv_takes_a_delimiter_and_an_optional_bom() -> None:
    data = write("csv", WriteOptions(delimiter=";", bom=True))
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["id", "Symbol", "P&L", "Opened"]
    assert rows[1][:3] == ["1", "AAPL", "1.5"]
    assert not write("csv", WriteOptions()).startswith(b"\xef\xbb\xbf")


def test_timestamps_are_shown_in_the_asked_timezone_in_every_format() -> None:
    paris = WriteOptions(timezone="Europe/Paris")  # 12:30 UTC on 1 March is 13:30 there
    text = write("csv", paris).decode()
    assert list(csv.reader(io.StringIO(text)))[1][3].startswith("2026-03-01 13:30:00")
    assert "+0100" in text
    first = json.loads(write("jsonl", paris).splitlines()[0])
    assert first["Opened"] == "2026-03-01T13:30:00+01:00"
    book = openpyxl.load_workbook(io.BytesIO(write("xlsx", paris)), read_only=True)
    cells = list(next(iter(book.worksheets)).iter_rows(min_row=2, max_row=2, values_only=True))
    assert cells[0][3].hour == 13
    table = pq.read_table(io.BytesIO(write("parquet", paris)))
    assert table.schema.field("Opened").type.tz == "Europe/Paris"
    assert table.column("Opened")[0].as_py().hour == 13


def test_a_locale_writes_numbers_and_dates_for_people() -> None:
    text = write("csv", WriteOptions(delimiter=";", locale="de_DE")).decode()
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0] == ["id", "Symbol", "P&L", "Opened"]
    assert rows[1] == ["1", "AAPL", "1,5", "01.03.2026 12:30:00"]
    assert rows[2][1:3] == ['\'=HYPERLINK("http://x")', "-2,25"]  # text neutralised, numbers not
    assert rows[3] == ["3", "", "", ""]  # nulls stay empty


def test_a_locale_follows_the_time_zone_and_keeps_every_digit() -> None:
    text = write("csv", WriteOptions(locale="en_US", timezone="Europe/Paris")).decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1][3] == "3/1/2026 13:30:00"
    big = write_values("csv", WriteOptions(locale="fr_FR"), pnl=1234567.5)
    assert "1234567,5" in big  # no grouping: ids and years stay whole
    tiny = write_values("csv", WriteOptions(locale="de_DE"), pnl=0.000012345)
    assert "0,000012345" in tiny  # every digit kept, never rounded


def test_without_a_locale_numbers_stay_machine_readable() -> None:
    rows = list(csv.reader(io.StringIO(write("csv", WriteOptions()).decode())))
    assert rows[2][2] == "-2.25"


@pytest.mark.parametrize(
    ("locale", "pnl", "text"),
    [
        ("de_DE", 1e25, "10000000000000000000000000"),  # was decimal.InvalidOperation
        ("de_DE", -1.5e300, "-15" + "0" * 299),
        ("de_DE", -1e-7, "-0,0000001"),
        ("de_DE", 0.1 + 0.2, "0,30000000000000004"),  # the shortest form, whole
        ("en_US", 1e25, "10000000000000000000000000"),
        ("de_DE", float("inf"), "INF"),  # was "∞": no spreadsheet reads that
        ("de_DE", float("-inf"), "-INF"),
        ("de_DE", float("nan"), ""),  # was "NaN"; empty, as in XLSX
        ("sv_SE", -1.5, "-1,5"),  # CLDR's U+2212 minus is no sign to a spreadsheet
    ],
)
def test_every_float_is_written_for_a_locale(locale: str, pnl: float, text: str) -> None:
    written = write_values("csv", WriteOptions(delimiter=";", locale=locale), pnl=pnl)
    assert list(csv.reader(io.StringIO(written), delimiter=";"))[1][2] == text


@pytest.mark.parametrize(
    ("locale", "text"),
    [
        ("de_DE", "13.03.2026 09:05:07"),
        ("en_US", "3/13/2026 09:05:07"),
        ("en_GB", "13/03/2026 09:05:07"),
        ("fr_FR", "13/03/2026 09:05:07"),
        ("ja_JP", "2026/03/13 09:05:07"),
        ("sv_SE", "2026-03-13 09:05:07"),
        ("hu_HU", "2026. 03. 13. 09:05:07"),
        ("bg_BG", "13.03.2026 09:05:07"),  # without the word CLDR adds for the year
        ("ar_EG", "13/3/2026 09:05:07"),  # without its direction marks
    ],
)
def test_dates_are_the_locales_short_date_with_the_year_whole(locale: str, text: str) -> None:
    way = spelling(locale)
    moment = datetime(2026, 3, 13, 9, 5, 7, 123456)
    assert way.datetime.format(moment) == text
    assert way.date.format(moment.date()) == text.rsplit(" ", 1)[0]


def test_a_value_no_locale_can_write_fails_the_export_for_good() -> None:
    """A date past the year 9999 (Python has none) was an OverflowError, retried as if
    transient; a data error fails at once and says which column."""
    schema = pa.schema([("opened_at", pa.timestamp("s", tz="UTC"))])
    columns = [OutputColumn("opened_at", "Opened")]
    writer = open_writer("csv", io.BytesIO(), columns, schema, WriteOptions(locale="de_DE"))
    batch = pa.record_batch({"opened_at": pa.array([10**13], schema.field(0).type)})
    with pytest.raises(TerminalJobError) as caught:
        writer.write(batch)
    info = classify(caught.value)
    assert (info.code, info.retryable) == ("value_unwritable", False)
    assert "'Opened'" in info.message
    assert "de_DE" in info.message
    assert str(10**13) not in info.message  # never the value itself


def test_csv_lines_end_in_lf_unless_crlf_is_asked_and_readers_agree(tmp_path: Path) -> None:
    notes = ["one", "two\nlines", "three\r\nlines", None]
    schema = pa.schema([("id", pa.int64()), ("notes", pa.string())])
    columns = [OutputColumn("id", "id"), OutputColumn("notes", "notes")]
    batch = pa.record_batch({"id": [1, 2, 3, 4], "notes": notes}, schema=schema)
    read = {}
    for name, ending in (("lf", "\n"), ("crlf", "\r\n")):
        path = tmp_path / f"{name}.csv"
        with path.open("wb") as sink:
            writer = open_writer("csv", sink, columns, schema, WriteOptions(line_terminator=ending))
            writer.write(batch)
            writer.close()
        data = path.read_bytes()
        # Five records end so; the line breaks inside quoted texts stay as stored.
        assert data.count(ending.encode()) == {"\n": 7, "\r\n": 6}[ending]
        assert data.endswith(ending.encode())
        read[name] = duckdb.sql(f"SELECT * FROM read_csv('{path}') ORDER BY id").fetchall()
    assert read["lf"] == read["crlf"] == list(zip([1, 2, 3, 4], notes, strict=True))
    assert b"\r" not in write("csv", WriteOptions())  # the default

"""Write options: CSV delimiter and BOM, and the timezone timestamps are shown in."""

from __future__ import annotations

import csv
import io
import json

import openpyxl
import pyarrow.parquet as pq

from exportd.formats import WriteOptions, open_writer, to_zone
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
    assert rows[1] == ["1", "AAPL", "1,5", "01.03.2026, 12:30:00"]
    assert rows[2][1:3] == ['\'=HYPERLINK("http://x")', "-2,25"]  # text neutralised, numbers not
    assert rows[3] == ["3", "", "", ""]  # nulls stay empty


def test_a_locale_follows_the_time_zone_and_keeps_every_digit() -> None:
    text = write("csv", WriteOptions(locale="en_US", timezone="Europe/Paris")).decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1][3] == "Mar 1, 2026, 1:30:00\u202fPM"
    big = write_values("csv", WriteOptions(locale="fr_FR"), pnl=1234567.5)
    assert "1234567,5" in big  # no grouping: ids and years stay whole
    tiny = write_values("csv", WriteOptions(locale="de_DE"), pnl=0.000012345)
    assert "0,000012345" in tiny  # every digit kept, never rounded


def test_without_a_locale_numbers_stay_machine_readable() -> None:
    rows = list(csv.reader(io.StringIO(write("csv", WriteOptions()).decode())))
    assert rows[2][2] == "-2.25"

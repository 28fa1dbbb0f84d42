"""Zoned timestamps formatted a column at a time read exactly as pyarrow's CSV writer
and orjson wrote them one cell at a time, and as the same instants by DuckDB."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from exportd.formats import OutputColumn, WriteOptions, open_writer
from exportd.formats.timestamps import is_zoned, zoned_text

ZONES = [
    "UTC",
    "Europe/Paris",
    "Europe/London",  # zero offset in winter
    "America/New_York",
    "Asia/Kolkata",  # half-hour offset
    "Asia/Kathmandu",  # quarter-hour offset
    "Australia/Lord_Howe",  # half-hour daylight saving
    "America/St_Johns",  # negative half-hour offset
]


def instants(count: int, *, until_year: int) -> pa.Array:
    """Random instants from 1960 on, some with microseconds, some missing."""
    rng = random.Random(until_year)
    start = datetime(1960, 1, 1, tzinfo=UTC)
    span = int((datetime(until_year, 1, 1, tzinfo=UTC) - start).total_seconds())
    values = [
        None
        if rng.random() < 0.05
        else start
        + timedelta(
            seconds=rng.randrange(span), microseconds=rng.choice([0, rng.randrange(1, 10**6)])
        )
        for _ in range(count)
    ]
    return pa.array(values, pa.timestamp("us", tz="UTC"))


@pytest.mark.parametrize("zone", ZONES)
def test_csv_text_is_what_pyarrows_writer_writes(zone: str) -> None:
    column = instants(3000, until_year=2100).cast(pa.timestamp("us", tz=zone))
    sink = io.BytesIO()
    pacsv.write_csv(pa.table({"t": column}), sink, pacsv.WriteOptions(include_header=False))
    expected = sink.getvalue().decode().splitlines()
    assert ["" if v is None else v for v in zoned_text(column, "csv").to_pylist()] == expected


@pytest.mark.parametrize("zone", ZONES)
def test_json_text_is_what_orjson_writes_for_a_datetime(zone: str) -> None:
    # Until 2037: beyond it Arrow's zone database and Python's zoneinfo may disagree
    # about daylight saving (documented in the module).
    column = instants(3000, until_year=2037).cast(pa.timestamp("us", tz=zone))
    expected = [
        None if v is None else orjson.loads(orjson.dumps(v, option=orjson.OPT_UTC_Z))
        for v in column.to_pylist()
    ]
    assert zoned_text(column, "json").to_pylist() == expected


def test_only_zoned_timestamps_are_formatted_here() -> None:
    assert is_zoned(pa.timestamp("us", tz="UTC"))
    assert not is_zoned(pa.timestamp("us"))
    assert not is_zoned(pa.date32())
    assert not is_zoned(pa.string())


def test_a_chunked_or_empty_column_is_formatted_too() -> None:
    kind = pa.timestamp("us", tz="Europe/Paris")
    chunked = pa.chunked_array([instants(5, until_year=2030).cast(kind), pa.array([], kind)])
    assert len(zoned_text(chunked, "csv")) == 5
    assert len(zoned_text(pa.array([], kind), "json")) == 0


# Local mean time: offsets with seconds, before each zone took a standard time.
LMT = [
    ("Europe/Paris", datetime(1890, 6, 1, 12, 0, 0, 250000, tzinfo=UTC)),  # +00:09:21
    ("America/New_York", datetime(1880, 1, 1, tzinfo=UTC)),  # -04:56:02
    ("Asia/Kolkata", datetime(1850, 3, 1, 6, 30, tzinfo=UTC)),  # +05:53:28
]


@pytest.mark.parametrize(("zone", "instant"), LMT)
def test_an_offset_with_seconds_keeps_the_exact_instant_for_readers(
    zone: str, instant: datetime, tmp_path: Path
) -> None:
    """Cut to minutes, 1890-06-01 12:09:21+0009 read as 21 seconds past noon UTC in
    DuckDB and polars: such a value is written in UTC instead (its offset has no ISO
    8601 spelling).  Values with whole-minute offsets keep theirs."""
    kind = pa.timestamp("us", tz=zone)
    modern = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    schema = pa.schema([("at", kind)])
    columns = [OutputColumn("at", "at")]
    batch = pa.record_batch({"at": pa.array([instant, modern, None], kind)}, schema=schema)
    for fmt, read in (("csv", "read_csv"), ("jsonl", "read_json")):
        path = tmp_path / f"times.{fmt}"
        with path.open("wb") as sink:
            writer = open_writer(fmt, sink, columns, schema, WriteOptions(timezone=zone))
            writer.write(batch)
            writer.close()
        query = f"SELECT \"at\"::TIMESTAMPTZ FROM {read}('{path}', columns={{'at': 'VARCHAR'}})"
        assert [row[0] for row in duckdb.sql(query).fetchall()] == [instant, modern, None]
    text = zoned_text(batch.column(0), "json").to_pylist()
    assert text[0].endswith("Z")
    assert not text[1].endswith("Z")  # its zone's summer offset, as before

"""JSON Lines as orjson would write each row: the writer builds its text in Arrow, a
column at a time, so every kind of value is checked against orjson's for the same row."""

from __future__ import annotations

import io
import json
import math
import re
import struct
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import orjson
import polars as pl
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exportd.formats import OutputColumn, open_writer

SCHEMA = pa.schema(
    [
        ("n", pa.int64()),
        ("flag", pa.bool_()),
        ("x", pa.float64()),
        ("small", pa.float32()),
        ("text", pa.string()),
        ("at", pa.timestamp("us", tz="UTC")),
        ("local", pa.timestamp("ms", tz="Europe/Paris")),
        ("day", pa.date32()),
    ]
)
COLUMNS = [OutputColumn(field.name, field.name.title()) for field in SCHEMA]
OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z

FLOATS = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [0.0, -0.0, 2.0, 1e14, 1e16, 1e21, 123456789012.0, 5e-7, 0.1, 1e300, -3.0]
)
# orjson writes datetimes from year 1 to 9999; Arrow's casts agree across that range.
INSTANTS = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)
# Before 1911 Paris kept local mean time, which the writer gives in UTC where orjson
# cuts its offset to whole minutes; after 2037 Arrow's zone rules may miss a change
# (both by design: formats/timestamps.py).
ZONED_FROM, ZONED_TO = datetime(1912, 1, 1, tzinfo=UTC), datetime(2037, 12, 31, tzinfo=UTC)
WHOLE_SECONDS = INSTANTS.map(lambda moment: moment.replace(microsecond=0))
TEXT = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ['a"b', "back\\slash", "line\nfeed", "tab\t", "\x00\x1f", "\u2028", "é日本", ""]
)


def zoned_range(moment: datetime) -> datetime:
    return min(max(moment, ZONED_FROM), ZONED_TO).replace(microsecond=0)


def rows_of(draw: st.DrawFn, n: int, values: st.SearchStrategy[object]) -> list[object]:
    return draw(st.lists(st.none() | values, min_size=n, max_size=n))


@st.composite
def batches(draw: st.DrawFn, times: st.SearchStrategy[datetime]) -> pa.RecordBatch:
    n = draw(st.integers(1, 30))
    data = {
        "n": rows_of(draw, n, st.integers(-(2**63), 2**63 - 1)),
        "flag": rows_of(draw, n, st.booleans()),
        "x": rows_of(draw, n, FLOATS),
        "small": rows_of(draw, n, st.floats(width=32)),
        "text": rows_of(draw, n, TEXT),
        "at": rows_of(draw, n, times),
        "local": rows_of(draw, n, times.map(zoned_range)),
        "day": rows_of(draw, n, st.dates(date(1, 1, 1), date(9999, 12, 31))),
    }
    if draw(st.booleans()):  # columns with no missing value take the writer's fast path
        present = {name: [v for v in values if v is not None] for name, values in data.items()}
        n = min(len(values) for values in present.values())
        if n:
            data = {name: values[:n] for name, values in present.items()}
    return pa.RecordBatch.from_pydict(data, schema=SCHEMA)


def written(batch: pa.RecordBatch) -> list[str]:
    sink = io.BytesIO()
    writer = open_writer("jsonl", sink, COLUMNS, SCHEMA)
    writer.write(batch)
    writer.close()
    return sink.getvalue().decode().split("\n")[:-1]


def orjson_row(row: dict[str, object]) -> dict[str, object]:
    paris = ZoneInfo("Europe/Paris")
    fixed = {
        "X": None if isinstance(row["X"], float) and not math.isfinite(row["X"]) else row["X"],
        "Small": None
        if isinstance(row["Small"], float) and not math.isfinite(row["Small"])
        else row["Small"],
        "Local": row["Local"].astimezone(paris) if row["Local"] else None,
    }
    return orjson.loads(orjson.dumps({**row, **fixed}, option=OPTIONS))


def single(value: object) -> object:
    return value if value is None else struct.unpack("f", struct.pack("f", value))[0]


def check(batch: pa.RecordBatch) -> None:
    lines = written(batch)
    assert len(lines) == batch.num_rows
    labels = [column.label for column in COLUMNS]
    for line, values in zip(lines, zip(*batch.to_pydict().values(), strict=True), strict=True):
        got, expected = json.loads(line), orjson_row(dict(zip(labels, values, strict=True)))
        # A float32 is written as its shortest text, which reads back as the same float32.
        assert single(got.pop("Small")) == single(expected.pop("Small"))
        assert got == expected
        # A float stays a float for readers that tell 2.0 from 2.
        assert got["X"] is None or isinstance(got["X"], float), line
        assert '"Small":null' in line or re.search(r'"Small":[^,]*[.e]', line), line


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(batch=batches(WHOLE_SECONDS))
def test_rows_of_whole_seconds_read_as_orjson_writes_them(batch: pa.RecordBatch) -> None:
    check(batch)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(batch=batches(INSTANTS))
def test_rows_with_fractions_of_a_second_read_as_orjson_writes_them(batch: pa.RecordBatch) -> None:
    check(batch)


@st.composite
def repeating(draw: st.DrawFn) -> pa.RecordBatch:
    """A batch of many rows drawn from a few values, as real columns of times are (a
    batch's few days and times of day are spelled once each), some missing."""
    n = draw(st.integers(20, 120))
    instants = draw(st.lists(WHOLE_SECONDS, min_size=1, max_size=3))
    picks = st.none() | st.sampled_from(instants)
    data = draw(batches(WHOLE_SECONDS)).to_pydict()
    data = {name: (values * n)[:n] for name, values in data.items()}
    data["at"] = draw(st.lists(picks, min_size=n, max_size=n))
    return pa.RecordBatch.from_pydict(data, schema=SCHEMA)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(batch=repeating())
def test_rows_with_a_few_distinct_times_read_as_orjson_writes_them(batch: pa.RecordBatch) -> None:
    check(batch)


def test_times_are_spelled_as_orjson_spells_them() -> None:
    moment = datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)
    batch = pa.RecordBatch.from_pydict(
        {
            "n": [1, 2],
            "flag": [True, False],
            "x": [2.0, 0.5],
            "small": [1.0, None],
            "text": ["a", "b"],
            "at": [moment, moment + timedelta(microseconds=1500)],
            "local": [moment, moment],
            "day": [date(1969, 12, 31), date(2026, 2, 28)],
        },
        schema=SCHEMA,
    )
    first, second = written(batch)
    assert first == (
        '{"N":1,"Flag":true,"X":2.0,"Small":1.0,"Text":"a","At":"1969-12-31T23:59:59Z",'
        '"Local":"1970-01-01T00:59:59+01:00","Day":"1969-12-31"}'
    )
    assert '"At":"1969-12-31T23:59:59.001500Z"' in second
    assert '"Small":null' in second


def test_duckdb_and_polars_read_the_values_written(tmp_path: Path) -> None:
    """What readers users run make of a file: many rows from a few times (the writer's
    spelled days), missing values in every column, whole and fractional floats."""
    moments = [datetime(2025, 1, 1, 9, 30, tzinfo=UTC), datetime(1969, 7, 20, 20, 17, tzinfo=UTC)]
    n = 200
    rows = {
        "n": [i if i % 7 else None for i in range(n)],
        "flag": [i % 2 == 0 if i % 5 else None for i in range(n)],
        "x": [[2.0, 0.5, -3.25, 1e21][i % 4] if i % 9 else None for i in range(n)],
        "small": [1.5] * n,
        "text": [['a"b', "line\nfeed", "é日本", ""][i % 4] if i % 6 else None for i in range(n)],
        "at": [moments[i % 2] if i % 8 else None for i in range(n)],
        "local": [moments[0]] * n,
        "day": [date(2026, 2, 28) if i % 3 else None for i in range(n)],
    }
    batch = pa.RecordBatch.from_pydict(rows, schema=SCHEMA)
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(written(batch)) + "\n")
    types = {
        "N": "BIGINT", "Flag": "BOOLEAN", "X": "DOUBLE", "Small": "DOUBLE", "Text": "VARCHAR",
        "At": "TIMESTAMPTZ", "Local": "TIMESTAMPTZ", "Day": "DATE",
    }  # fmt: skip
    duck = duckdb.connect()
    duck.execute("SET TimeZone = 'UTC'")
    found = duck.sql(f"SELECT * FROM read_json('{path}', columns = {types})").fetchall()
    expected = list(zip(*rows.values(), strict=True))
    assert found == expected
    frame = pl.read_ndjson(path)
    assert frame["X"].to_list() == rows["x"]
    assert frame["Text"].to_list() == rows["text"]
    assert frame["At"].str.to_datetime(time_zone="UTC").to_list() == rows["at"]

"""SQLite's text timestamps parsed a column at a time: the instants a per-value reading
of the same wall times gives."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from exportd.sources.text_times import parse_timestamps

WALL_TIMES = st.lists(
    st.none() | st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)),
    max_size=30,
)


def as_text(walls: list[datetime | None]) -> pa.Array:
    return pa.array([w.isoformat(" ", "microseconds") if w else None for w in walls], pa.string())


@given(WALL_TIMES)
def test_utc_text_becomes_the_instants_it_names(walls: list[datetime | None]) -> None:
    parsed = parse_timestamps(as_text(walls), pa.timestamp("us", tz="UTC"))

    assert parsed.type == pa.timestamp("us", tz="UTC")
    assert parsed.to_pylist() == [w.replace(tzinfo=ZoneInfo("UTC")) if w else None for w in walls]


@pytest.mark.parametrize("zone", ["Etc/UTC", "Europe/Paris", "Asia/Kolkata"])
def test_text_in_a_named_zone_is_read_as_that_zone_s_wall_time(zone: str) -> None:
    walls = [datetime(2026, 1, 15, 9, 30), datetime(2026, 7, 15, 9, 30, 0, 250), None]

    parsed = parse_timestamps(as_text(walls), pa.timestamp("us", tz=zone))

    assert parsed.type == pa.timestamp("us", tz=zone)
    expected = [w.replace(tzinfo=ZoneInfo(zone)) if w else None for w in walls]
    assert [v.timestamp() if v else None for v in parsed.to_pylist()] == [
        v.timestamp() if v else None for v in expected
    ]


def test_text_for_a_naive_column_stays_naive() -> None:
    walls = [datetime(2026, 3, 29, 2, 30), None]

    parsed = parse_timestamps(as_text(walls), pa.timestamp("us"))

    assert parsed.type == pa.timestamp("us")
    assert parsed.to_pylist() == walls


def test_text_that_is_not_a_time_is_refused() -> None:
    with pytest.raises(pa.ArrowInvalid):
        parse_timestamps(pa.array(["yesterday"]), pa.timestamp("us", tz="UTC"))

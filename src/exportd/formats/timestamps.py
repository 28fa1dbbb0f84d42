"""Zone-aware timestamps as ISO 8601 text, a whole column at a time.

pyarrow formats a zoned timestamp by looking its zone up per value (about 3 s per
million cells here) and ``to_pylist`` builds a ``datetime`` with its ``ZoneInfo`` per
cell.  Shifted to wall time (``local_timestamp``) a column formats in one cast, and it
holds only a handful of distinct offsets: format those once and join.

Offsets come from Arrow's time-zone database, as pyarrow's own CSV writer takes them;
beyond 2037 it may miss a daylight-saving change that Python's zoneinfo applies.

An offset that is not a whole number of minutes (local mean time before a zone's
standard time: Paris until 1911 was +00:09:21) has no ISO 8601 or RFC 3339 spelling,
and cut to minutes it named another instant (DuckDB and polars read 1890-01-01
00:09:21+0009 as 21 seconds past midnight UTC).  Such a value is written in UTC (``Z``):
the exact instant, which every reader parses.
"""

from __future__ import annotations

from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc

Style = Literal["csv", "json"]


def is_zoned(data_type: pa.DataType) -> bool:
    return bool(pa.types.is_timestamp(data_type) and data_type.tz is not None)


def zoned_text(array: pa.Array | pa.ChunkedArray, style: Style) -> pa.Array:
    """``array`` (a zoned timestamp column) as text.

    - csv: ``2026-03-01 13:30:00.000000+0100``, ``Z`` for UTC (what pyarrow's CSV writer
      writes for a zoned timestamp, so the file reads the same as before).
    - json: ``2026-03-01T13:30:00+01:00``, ``Z`` for a zero offset, the fraction only
      when there is one (what orjson writes for a ``datetime``).
    """
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    wall, suffix = wall_time(array, style)
    text = wall.cast(pa.string())
    if style == "json":
        text = pc.replace_substring(text, " ", "T", max_replacements=1)
        # orjson writes the fraction only when there is one.
        whole = pc.equal(pc.subsecond(wall), 0)
        text = pc.if_else(whole, pc.utf8_slice_codeunits(text, 0, 19), text)
    return pc.binary_join_element_wise(text, suffix, "")


def wall_time(array: pa.Array, style: Style) -> tuple[pa.Array, pa.Scalar | pa.Array]:
    """The zone's wall times (a timestamp without a zone) and the offset's text to write
    after each: one for UTC, else per value."""
    if array.type.tz == "UTC":
        return array.cast(pa.timestamp(array.type.unit)), pa.scalar("Z")
    return _local(array, style)


def _local(array: pa.Array, style: Style) -> tuple[pa.Array, pa.Array]:
    """The wall times and their offsets' text.  A column holds a handful of distinct
    offsets: each is spelled once.  A value whose offset holds seconds is given as its
    UTC time and ``Z`` instead (see the module's docstring)."""
    unit = array.type.unit
    utc = array.cast(pa.timestamp(unit))
    wall = pc.local_timestamp(array)
    offsets = pc.subtract(wall.cast(pa.int64()), utc.cast(pa.int64()))
    distinct = pc.unique(offsets.drop_null())
    per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[unit]
    seconds = [value // per_second for value in distinct.to_pylist()]
    labels = pa.array([_offset(s, style) if s % 60 == 0 else "Z" for s in seconds], pa.string())
    suffixes = pc.take(labels, pc.index_in(offsets, value_set=distinct))
    odd = [value for value, s in zip(distinct.to_pylist(), seconds, strict=True) if s % 60]
    if odd:  # rare: the years of local mean time
        wall = pc.if_else(pc.is_in(offsets, value_set=pa.array(odd, offsets.type)), utc, wall)
    return wall, suffixes


def _offset(seconds: int, style: Style) -> str:
    if seconds == 0 and style == "json":
        return "Z"
    sign = "-" if seconds < 0 else "+"
    hours, minutes = divmod(abs(seconds) // 60, 60)  # whole minutes: see _local
    return (
        f"{sign}{hours:02d}:{minutes:02d}" if style == "json" else f"{sign}{hours:02d}{minutes:02d}"
    )

"""Zone-aware timestamps as ISO 8601 text, a whole column at a time.

pyarrow formats a zoned timestamp by looking its zone up per value (about 3 s per
million cells here) and ``to_pylist`` builds a ``datetime`` with its ``ZoneInfo`` per
cell.  Shifted to wall time (``local_timestamp``) a column formats in one cast, and it
holds only a handful of distinct offsets: format those once and join.

Offsets come from Arrow's time-zone database, as pyarrow's own CSV writer takes them;
beyond 2037 it may miss a daylight-saving change that Python's zoneinfo applies.
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
    kind = array.type
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    naive_type = pa.timestamp(kind.unit)
    if kind.tz == "UTC":
        wall = array.cast(naive_type)
        offsets = None
    else:
        wall = pc.local_timestamp(array)
        offsets = pc.subtract(wall.cast(pa.int64()), array.cast(naive_type).cast(pa.int64()))
    text = wall.cast(pa.string())
    if style == "json":
        text = pc.replace_substring(text, " ", "T", max_replacements=1)
        # orjson writes the fraction only when there is one.
        whole = pc.equal(pc.subsecond(wall), 0)
        text = pc.if_else(whole, pc.utf8_slice_codeunits(text, 0, 19), text)
    suffix = pa.scalar("Z") if offsets is None else _suffixes(offsets, kind.unit, style)
    return pc.binary_join_element_wise(text, suffix, "")


def _suffixes(offsets: pa.Array, unit: str, style: Style) -> pa.Array:
    distinct = pc.unique(offsets.drop_null())
    per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[unit]
    labels = pa.array(
        [_offset(value // per_second, style) for value in distinct.to_pylist()], pa.string()
    )
    return pc.take(labels, pc.index_in(offsets, value_set=distinct))


def _offset(seconds: int, style: Style) -> str:
    if seconds == 0 and style == "json":
        return "Z"
    sign = "-" if seconds < 0 else "+"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return (
        f"{sign}{hours:02d}:{minutes:02d}" if style == "json" else f"{sign}{hours:02d}{minutes:02d}"
    )

"""JSON Lines, or one JSON array streamed element by element.

Each column is turned into its JSON text in Arrow (numbers cast, text escaped, times
formatted), the columns are joined into one object per row, and the batch's text goes
to the sink straight from Arrow's buffer: no dict or Python string per row.  A column
Arrow cannot encode exactly (a control character other than a newline, tab or return in
the text; a decimal, a list) is encoded by orjson a value at a time, so the output is
what orjson writes either way.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, BinaryIO, TypeAlias

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from exportd.formats.base import OutputColumn, SinkOnly
from exportd.formats.timestamps import is_zoned, wall_time, zoned_text

_OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS
_TEXT = pa.large_string()  # a batch of long text can pass 2 GiB of JSON
# What Arrow's replacements below do not escape: orjson takes such a column.
_RARE_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f]"


def _lit(text: str) -> pa.Scalar:
    return pa.scalar(text, _TEXT)


_NOTHING = _lit("")
# The backslash first: the others add backslashes of their own.
_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"))
_CONTROLS = "\n\r\t"
# A column's text per row, or text the same on every row.
Part: TypeAlias = pa.Array | str


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(type(value).__name__)


class JsonWriter(SinkOnly):
    def __init__(self, sink: BinaryIO, columns: list[OutputColumn], *, array: bool) -> None:
        self.sink = sink
        # '{"Label":' and ',"Next":' once, not per row.
        keys = [orjson.dumps(c.label).decode() + ":" for c in columns]
        self.prefixes = ["{" + keys[0], *("," + key for key in keys[1:])] if keys else []
        self.array = array
        self.first = True
        if array:
            sink.write(b"[")

    def write(self, batch: pa.RecordBatch) -> None:
        if not batch.num_rows:
            return
        end = "}," if self.array else "}\n"
        if self.prefixes:
            parts: list[Part] = []
            for prefix, column in zip(self.prefixes, batch.columns, strict=True):
                parts += [prefix, *json_parts(column)]
            # A missing value is one null cell in its column's parts: written as null.
            text: Any = _buffer(_joined([*parts, end], null_as="null"))
        else:
            text = ("{" + end).encode() * batch.num_rows
        if self.array:
            text = text[:-1]  # the last row's comma: the next batch or ']' follows
            if not self.first:
                self.sink.write(b",")
        self.first = False
        self.sink.write(text)

    def close(self) -> None:
        if self.array:
            self.sink.write(b"]")


def json_parts(array: pa.Array) -> list[Part]:
    """Each value of ``array`` as JSON text, in parts the row's join puts together: text
    that is the same on every row (the quotes around a column of strings) stays a
    ``str`` and merges with the key before it, which saves a pass over the column.  A
    missing value is a null cell of one of the parts, with no other text of that row
    around it (the row's join writes ``null`` there)."""
    kind = array.type
    parts: list[Part]
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        parts = _text(array)
    elif is_zoned(kind):
        parts = _zoned(array)
    elif pa.types.is_date(kind):
        parts = ['"', array.cast(_TEXT), '"']
    elif pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        parts = [array.cast(_TEXT)]
    elif pa.types.is_floating(kind):
        parts = _floats(array)
    else:
        parts = [_by_orjson(array)]
    missing = [part for part in parts if isinstance(part, pa.Array) and part.null_count]
    if len(missing) > 1 or (missing and any(isinstance(part, str) for part in parts)):
        return [_joined(parts)]  # the row's parts in one, null where a value is missing
    return parts


def _joined(parts: list[Part], *, null_as: str | None = None) -> pa.Array:
    """Row by row, the parts one after another (next literals merged first): null where
    a part is null, or ``null_as`` in that part's place."""
    merged: list[pa.Array | pa.Scalar] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    values = [_lit(part) if isinstance(part, str) else part for part in merged]
    if null_as is None:
        return pc.binary_join_element_wise(*values, _NOTHING)
    return pc.binary_join_element_wise(
        *values, _NOTHING, null_handling="replace", null_replacement=null_as
    )


def _text(array: pa.Array) -> list[Part]:
    # Symbols, statuses, tags: a few distinct values, escaped once each.
    once = _once_per_value(array, lambda distinct: _joined(_escaped(distinct)))
    return [once] if once is not None else _escaped(array)


def _once_per_value(values: pa.Array, spell: Callable[[pa.Array], pa.Array]) -> pa.Array | None:
    """Each row's text, ``spell`` run once on the distinct values and taken back per row;
    None when most values are distinct (spelling every row is cheaper then)."""
    encoded = pc.dictionary_encode(values)
    if len(encoded.dictionary) * 4 >= len(values):
        return None
    return pc.take(spell(encoded.dictionary), encoded.indices)


def _escaped(array: pa.Array) -> list[Part]:
    text = array.cast(_TEXT)
    controls = _has_control_bytes(text)
    if controls and pc.any(pc.match_substring_regex(text, _RARE_CONTROL)).as_py():
        return [_by_orjson(array)]
    for raw_text, escaped in _ESCAPES:
        if raw_text in _CONTROLS and not controls:
            continue
        if pc.any(pc.match_substring(text, raw_text)).as_py():
            text = pc.replace_substring(text, raw_text, escaped)
    return ['"', text, '"']


def _has_control_bytes(text: pa.Array) -> bool:
    # One look at the bytes (UTF-8 never uses one below 0x20 inside another character)
    # spares most columns the scans for a newline, a tab and a return, and the regex.
    raw = _buffer(text)
    if not len(raw):
        return False
    lowest = pc.min(pa.Array.from_buffers(pa.uint8(), len(raw), [None, pa.py_buffer(raw)]))
    return bool(lowest.as_py() < 0x20)


def _zoned(array: pa.Array) -> list[Part]:
    wall, offset = wall_time(array, "json")
    if not pc.all(pc.equal(pc.subsecond(wall), 0)).as_py():
        return ['"', zoned_text(array, "json").cast(_TEXT), '"']
    # Whole seconds (the usual case): the date and the time of day.
    days = wall.cast(pa.date32())
    seconds = wall.cast(pa.time32("s"), safe=False)
    if isinstance(offset, pa.Scalar):
        # A batch holds a few days and (minutes, hours) a few times of day: each is
        # spelled once with the text around it, and a missing value is the day's null.
        day = _spelled(days, '"', "T")
        clock = _spelled(seconds, "", f'{offset.as_py()}"')
        if day is not None and clock is not None:
            return [day, pc.fill_null(clock, _NOTHING) if clock.null_count else clock]
    day_text, clock_text = days.cast(_TEXT), seconds.cast(_TEXT)
    if isinstance(offset, pa.Scalar):
        return ['"', day_text, "T", clock_text, f'{offset.as_py()}"']
    return ['"', day_text, "T", clock_text, offset.cast(_TEXT), '"']


def _spelled(values: pa.Array, before: str, after: str) -> pa.Array | None:
    """Each value's text with ``before`` and ``after`` around it (see _once_per_value)."""
    return _once_per_value(
        values,
        lambda distinct: pc.binary_join_element_wise(
            _lit(before), distinct.cast(_TEXT), _lit(after), _NOTHING
        ),
    )


def _floats(array: pa.Array) -> list[Part]:
    # JSON has no NaN or infinity: null, as orjson writes them.
    if not pc.all(pc.is_finite(array)).as_py():
        array = pc.if_else(pc.is_finite(array), array, pa.scalar(None, array.type))
    text = array.cast(_TEXT)
    # Arrow writes 2.0 as "2": keep it a float for readers that tell them apart.  Only a
    # whole number can lack a point, and one in exponent form ("1e+14") needs none.
    whole = pc.equal(pc.trunc(array), array)
    if not pc.any(whole).as_py():
        return [text]
    bare = pc.and_(whole, pc.invert(pc.match_substring(text, "e")))
    if not text.null_count and pc.all(bare).as_py():
        return [text, ".0"]
    # Never null (a missing value's row has its null in ``text`` alone).
    return [text, pc.if_else(pc.fill_null(bare, False), _lit(".0"), _NOTHING)]


def _by_orjson(array: pa.Array) -> pa.Array:
    return pa.array(
        [
            None
            if value is None
            else orjson.dumps(value, default=_default, option=_OPTIONS).decode()
            for value in array.to_pylist()
        ],
        _TEXT,
    )


def _buffer(rows: pa.Array) -> memoryview:
    """The rows' text as it lies in Arrow's data buffer: one slice, no copy."""
    _, offsets_buffer, data = rows.buffers()
    if data is None:  # no text at all
        return memoryview(b"")
    offsets = pa.Array.from_buffers(
        pa.int64(), len(rows) + 1, [None, offsets_buffer], offset=rows.offset
    )
    start, end = offsets[0].as_py(), offsets[-1].as_py()
    return memoryview(data)[start:end]

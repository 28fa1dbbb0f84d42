"""JSON Lines, or one JSON array streamed element by element.

Each column is turned into its JSON text in Arrow (numbers cast, text escaped, times
formatted), the columns are joined into one object per row, and the batch's text goes
to the sink straight from Arrow's buffer: no dict or Python string per row.  A column
Arrow cannot encode exactly (a control character other than a newline, tab or return in
the text; a decimal, a list) is encoded by orjson a value at a time, so the output is
what orjson writes either way.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, BinaryIO

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from exportd.formats.base import OutputColumn, SinkOnly
from exportd.formats.timestamps import is_zoned, zoned_text

_OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS
_TEXT = pa.large_string()  # a batch of long text can pass 2 GiB of JSON
# What Arrow's replacements below do not escape: orjson takes such a column.
_RARE_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f]"


def _lit(text: str) -> pa.Scalar:
    return pa.scalar(text, _TEXT)


_QUOTE, _NOTHING = _lit('"'), _lit("")
# The backslash first: the others add backslashes of their own.
_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"))


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
        prefixes = ["{" + keys[0], *("," + key for key in keys[1:])] if keys else []
        self.prefixes = [_lit(p) for p in prefixes]
        self.array = array
        self.first = True
        if array:
            sink.write(b"[")

    def write(self, batch: pa.RecordBatch) -> None:
        if not batch.num_rows:
            return
        end = "}," if self.array else "}\n"
        if self.prefixes:
            parts: list[Any] = []
            for prefix, column in zip(self.prefixes, batch.columns, strict=True):
                parts += [prefix, json_values(column)]
            text: Any = _buffer(pc.binary_join_element_wise(*parts, _lit(end), _NOTHING))
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


def json_values(array: pa.Array) -> pa.Array:
    """Each value of ``array`` as JSON text (``null`` for a missing one)."""
    kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        encoded = _text(array)
    elif is_zoned(kind) or pa.types.is_date(kind):
        formatted = zoned_text(array, "json") if is_zoned(kind) else array.cast(pa.string())
        encoded = pc.binary_join_element_wise(_QUOTE, formatted.cast(_TEXT), _QUOTE, _NOTHING)
    elif pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        encoded = array.cast(_TEXT)
    elif pa.types.is_floating(kind):
        encoded = _floats(array)
    else:
        encoded = _by_orjson(array)
    return pc.fill_null(encoded.cast(_TEXT), _lit("null"))


def _text(array: pa.Array) -> pa.Array:
    # Symbols, statuses, tags: a few distinct values, escaped once each.
    encoded = pc.dictionary_encode(array)
    if len(encoded.dictionary) * 4 < len(array):
        return pc.take(_escaped(encoded.dictionary), encoded.indices)
    return _escaped(array)


def _escaped(array: pa.Array) -> pa.Array:
    if pc.any(pc.match_substring_regex(array, _RARE_CONTROL)).as_py():
        return _by_orjson(array)
    text = array.cast(_TEXT)
    for raw, escaped in _ESCAPES:
        if pc.any(pc.match_substring(text, raw)).as_py():
            text = pc.replace_substring(text, raw, escaped)
    return pc.binary_join_element_wise(_QUOTE, text, _QUOTE, _NOTHING)


def _floats(array: pa.Array) -> pa.Array:
    # JSON has no NaN or infinity: null, as orjson writes them.
    finite = pc.if_else(pc.is_finite(array), array, pa.scalar(None, array.type))
    text = finite.cast(_TEXT)
    # Arrow writes 2.0 as "2": keep it a float for readers that tell them apart.
    whole = pc.invert(pc.or_(pc.match_substring(text, "."), pc.match_substring(text, "e")))
    return pc.if_else(whole, pc.binary_join_element_wise(text, _lit(".0"), _NOTHING), text)


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
    offsets = pa.Array.from_buffers(
        pa.int64(), len(rows) + 1, [None, offsets_buffer], offset=rows.offset
    )
    start, end = offsets[0].as_py(), offsets[-1].as_py()
    return memoryview(data)[start:end]

"""A batch made ready for a spreadsheet, a column at a time in Arrow.

Both XLSX writers take their cells from here, so they write the same values: text
neutralised (formula injection) and cut at Excel's 32,767 characters with a visible
marker, an empty text as an empty cell, zoned timestamps as their wall time (Excel has
no zones; a date or time outside the years 1 to 9999 is refused: ``value_unwritable``,
permanent), decimals as numbers, bytes as hex and any other type as its text.  Only a
column that holds a too-long text, or a type Arrow cannot cast to text, is touched in
Python.

An empty text is no cell at all, as a null is (XlsxWriter wrote an empty string cell,
rust_xlsxwriter none): nobody types an empty string into a spreadsheet, where it only
makes ``ISBLANK`` false and ``COUNTA`` count it, and a CSV opened there shows the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import pyarrow as pa
import pyarrow.compute as pc

from exportd.formats.base import unwritable
from exportd.formats.safety import neutralise_array
from exportd.formats.timestamps import is_zoned

MAX_CELL_CHARS = 32_767


@dataclass(slots=True)
class PreparedBatch:
    arrays: list[pa.Array]
    cells_cut: int  # texts shortened to fit a cell


def prepare(batch: pa.RecordBatch, headers: list[str]) -> PreparedBatch:
    """``headers`` name the columns in an error."""
    arrays = []
    cut = 0
    for array, header in zip(batch.columns, headers, strict=True):
        ready, shortened = _cell_values(array)
        if pa.types.is_timestamp(ready.type) or pa.types.is_date(ready.type):
            _within_years(ready, header, array.type)
        arrays.append(ready)
        cut += shortened
    return PreparedBatch(arrays, cut)


def _within_years(array: pa.Array, header: str, original: pa.DataType) -> None:
    """Years 1 to 9999 (Python's dates, XlsxWriter's cells; Excel's end at 9999): the
    same refusal from both writers rather than a cell from one and a crash in the
    other."""
    kind = array.type
    if pa.types.is_timestamp(kind) and kind.unit == "ns":
        return  # 1677 to 2262
    first, last = (date.min, date.max) if pa.types.is_date(kind) else (datetime.min, datetime.max)
    outside = pc.or_(
        pc.less(array, pa.scalar(first, kind)), pc.greater(array, pa.scalar(last, kind))
    )
    if pc.any(outside).as_py():
        raise unwritable(header, original, "XLSX")


def _cell_values(array: pa.Array) -> tuple[pa.Array, int]:
    data_type = array.type
    if pa.types.is_dictionary(data_type):
        return _cell_values(array.dictionary_decode())
    if pa.types.is_timestamp(data_type):
        return (pc.local_timestamp(array) if is_zoned(data_type) else array), 0
    if pa.types.is_decimal(data_type):
        return pc.cast(array, pa.float64()), 0
    if _is_native(data_type):
        return array, 0
    text = array if _is_text(data_type) else _as_text(array)
    return _fitted(neutralise_array(text))


def _is_native(data_type: pa.DataType) -> bool:
    """Types a spreadsheet holds as they are: numbers, booleans, dates, empty."""
    return bool(
        pa.types.is_integer(data_type)
        or pa.types.is_floating(data_type)
        or pa.types.is_boolean(data_type)
        or pa.types.is_date(data_type)
        or pa.types.is_null(data_type)
    )


def _is_text(data_type: pa.DataType) -> bool:
    return bool(pa.types.is_string(data_type) or pa.types.is_large_string(data_type))


def _as_text(array: pa.Array) -> pa.Array:
    if _is_binary(array.type):  # bytes as hex: a repr would mean nothing to a reader
        return pa.array([None if v is None else v.hex() for v in array.to_pylist()], pa.string())
    try:
        return pc.cast(array, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # lists, structs…
        return pa.array([None if v is None else str(v) for v in array.to_pylist()], pa.string())


def _is_binary(data_type: pa.DataType) -> bool:
    return bool(
        pa.types.is_binary(data_type)
        or pa.types.is_large_binary(data_type)
        or pa.types.is_fixed_size_binary(data_type)
    )


def _fitted(text: pa.Array) -> tuple[pa.Array, int]:
    size = pc.binary_length(text)  # bytes: read from the offsets, no decoding
    empty = pc.equal(size, 0)
    if pc.any(empty).as_py():
        text = pc.if_else(empty, pa.scalar(None, text.type), text)
    if (pc.max(size).as_py() or 0) <= MAX_CELL_CHARS:
        return text, 0  # no more bytes than a cell holds characters
    too_long = pc.greater(pc.utf8_length(text), MAX_CELL_CHARS)
    cut = pc.sum(too_long).as_py() or 0
    if not cut:
        return text, 0
    return pa.array([_cut(v) for v in text.to_pylist()], text.type), cut


def _cut(value: str | None) -> str | None:
    if value is None or len(value) <= MAX_CELL_CHARS:
        return value
    marker = f" […{len(value):,} characters in all; Excel holds {MAX_CELL_CHARS:,}]"
    return value[: MAX_CELL_CHARS - len(marker)] + marker

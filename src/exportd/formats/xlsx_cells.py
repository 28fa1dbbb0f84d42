"""A batch made ready for a spreadsheet, a column at a time in Arrow.

Both XLSX writers take their cells from here, so they write the same values: text
neutralised (formula injection) and cut at Excel's 32,767 characters with a visible
marker, zoned timestamps as their wall time (Excel has no zones), decimals as numbers,
bytes as hex and any other type as its text.  Only a column that holds a too-long text, or a type
Arrow cannot cast to text, is touched in Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from exportd.formats.safety import neutralise_array
from exportd.formats.timestamps import is_zoned

MAX_CELL_CHARS = 32_767


@dataclass(slots=True)
class PreparedBatch:
    arrays: list[pa.Array]
    cells_cut: int  # texts shortened to fit a cell


def prepare(batch: pa.RecordBatch) -> PreparedBatch:
    arrays = []
    cut = 0
    for array in batch.columns:
        ready, shortened = _cell_values(array)
        arrays.append(ready)
        cut += shortened
    return PreparedBatch(arrays, cut)


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

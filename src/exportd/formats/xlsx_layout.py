"""How an XLSX sheet is laid out, the same for both writers: its name (the source's
title), its columns' widths (from the header and the first batch: bounded work, a
column at a time in Arrow) and, set by the writers, a frozen header row and an
autofilter over the rows.

Widths are in Excel's unit, the width of a digit of the default font (Calibri 11).
LibreOffice shows Calibri's cells in a wider font when it lacks Calibri (or Carlito):
a timestamp's 19 characters needed 17 units there and showed ``###`` in the 8.43 of a
column left alone.  The sizes below leave that margin.
"""

from __future__ import annotations

import re
import unicodedata

import pyarrow as pa
import pyarrow.compute as pc

MIN_WIDTH = 6.0
MAX_TEXT_WIDTH = 50.0  # a longer text is cut at the cell's edge, not the column widened
MAX_WIDTH = 100.0  # a long header stays whole up to here (Excel allows 255)
HEADER_PAD = 3.0  # the bold face and the autofilter's button
DATETIME_WIDTH = 20.0  # yyyy-mm-dd hh:mm:ss
DATE_WIDTH = 11.0  # yyyy-mm-dd
BOOLEAN_WIDTH = 10.0  # TRUE, FALSCH, VERDADERO: the spreadsheet's language decides
FLOAT_DIGITS = 15  # Excel shows at most 11 characters of a number in General; LibreOffice more
INTEGER_GROWTH = 2  # the first batch's largest id may gain two digits by the last

SHEET_NAME_MAX = 31  # Excel's limit
_NOT_IN_SHEET_NAMES = re.compile(r"[\[\]:*?/\\\x00-\x1f\x7f-\x9f]")


def sheet_name(title: str | None, number: int) -> str:
    """The name of the export's ``number``-th sheet (from 1): the source's title, then
    ``Title (2)``, ``Title (3)``…; ``Sheet1``, ``Sheet2``… without one.  Excel refuses
    ``[ ] : * ? / \\``, a leading or trailing apostrophe, more than 31 characters and
    the name ``History``."""
    base = _NOT_IN_SHEET_NAMES.sub(" ", title or "").strip().strip("'").strip()
    if not base:
        return f"Sheet{number}"
    if base.casefold() == "history":
        base += " 1"
    suffix = "" if number == 1 else f" ({number})"
    return base[: SHEET_NAME_MAX - len(suffix)].rstrip().rstrip("'") + suffix


def column_widths(headers: list[str], arrays: list[pa.Array] | None = None) -> list[float]:
    """A width for each column: enough for its header and for what the first batch
    (cells as ``xlsx_cells.prepare`` makes them) holds, within bounds."""
    widths = []
    for index, header in enumerate(headers):
        content = _content_width(arrays[index]) if arrays is not None else 0.0
        wanted = max(_text_width(header) * 1.1 + HEADER_PAD, content)
        widths.append(round(min(max(wanted, MIN_WIDTH), MAX_WIDTH), 1))
    return widths


def _content_width(array: pa.Array) -> float:
    kind = array.type
    if pa.types.is_timestamp(kind):
        return DATETIME_WIDTH
    if pa.types.is_date(kind):
        return DATE_WIDTH
    if pa.types.is_boolean(kind):
        return BOOLEAN_WIDTH
    if array.null_count == len(array):
        return 0.0
    if pa.types.is_integer(kind):
        low, high = pc.min_max(array).values()
        digits = max(len(str(low.as_py())), len(str(high.as_py())))
        return digits + INTEGER_GROWTH + 1.0
    if pa.types.is_floating(kind):
        finite = pc.filter(array, pc.is_finite(array))
        longest = pc.max(pc.utf8_length(finite.cast(pa.string()))).as_py() or 3  # INF
        return min(longest, FLOAT_DIGITS) + 1.0
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        # Characters, or bytes / 1.5 where that is more: a CJK character (three bytes)
        # is two digits wide, an accented Latin one (two bytes) one.
        characters = pc.max(pc.utf8_length(array)).as_py() or 0
        wide = (pc.max(pc.binary_length(array)).as_py() or 0) / 1.5
        return min(max(characters, wide), MAX_TEXT_WIDTH) + 1.0
    return 0.0


def _text_width(text: str) -> float:
    return float(sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text))

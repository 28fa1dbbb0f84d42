"""XLSX through XlsxWriter in constant-memory mode: rows go to disk as they come.

Excel stops at 1,048,576 rows a sheet: the export continues on a new sheet (with the
header again) instead of being cut short.  A cell holds at most 32,767 characters: a
longer text is cut with a visible marker saying how much is missing, and counted
(``cells_cut``) so the export's result says so — never a silent cut.  Numbers and dates
stay typed; text is written as text, never as a formula, and neutralised like CSV.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import xlsxwriter

from exportd.formats.base import OutputColumn
from exportd.formats.safety import neutralise
from exportd.formats.timestamps import is_zoned

MAX_ROWS = 1_048_576
MAX_CELL_CHARS = 32_767


class XlsxWriter:
    def __init__(self, sink: BinaryIO, columns: list[OutputColumn], *, max_rows: int = MAX_ROWS):
        self.columns = columns
        self.max_rows = max_rows
        self.workbook = xlsxwriter.Workbook(
            sink,
            {
                "constant_memory": True,
                "remove_timezone": True,
                "strings_to_formulas": False,
                "strings_to_urls": False,
            },
        )
        self.datetime_format = self.workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self.date_format = self.workbook.add_format({"num_format": "yyyy-mm-dd"})
        self.header_format = self.workbook.add_format({"bold": True})
        self.sheet: Any = None
        self.sheets = 0
        self.row = 0
        self.cells_cut = 0
        self._new_sheet()

    def _new_sheet(self) -> None:
        self.sheets += 1
        self.sheet = self.workbook.add_worksheet(f"Sheet{self.sheets}")
        for col, column in enumerate(self.columns):
            self.sheet.write_string(0, col, neutralise(column.label), self.header_format)
        self.row = 1

    def write(self, batch: pa.RecordBatch) -> None:
        # Zoned timestamps become their wall time in Arrow (Excel has no zones): to_pylist
        # would otherwise build a datetime and look its zone up for every cell.
        columns = [
            (pc.local_timestamp(array) if is_zoned(array.type) else array).to_pylist()
            for array in batch.columns
        ]
        for values in zip(*columns, strict=True):
            if self.row >= self.max_rows:
                self._new_sheet()
            for col, value in enumerate(values):
                self._cell(col, value)
            self.row += 1

    def _cell(self, col: int, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, str):
            self.sheet.write_string(self.row, col, self._fitted(neutralise(value)))
        elif isinstance(value, bool):
            self.sheet.write_boolean(self.row, col, value)
        elif isinstance(value, int | float):
            self.sheet.write_number(self.row, col, value)
        elif isinstance(value, datetime):
            self.sheet.write_datetime(self.row, col, value, self.datetime_format)
        elif isinstance(value, date):
            self.sheet.write_datetime(self.row, col, value, self.date_format)
        else:
            self.sheet.write_string(self.row, col, self._fitted(neutralise(str(value))))

    def _fitted(self, text: str) -> str:
        if len(text) <= MAX_CELL_CHARS:
            return text
        self.cells_cut += 1
        marker = f" […{len(text):,} characters in all; Excel holds {MAX_CELL_CHARS:,}]"
        return text[: MAX_CELL_CHARS - len(marker)] + marker

    def close(self) -> None:
        self.workbook.close()

"""XLSX: which writer, and the one that can take any number of rows.

The fast writer (:mod:`exportd.formats.xlsx_fast`, rust_xlsxwriter) must name its
sheets before the first row, so it is used when the number of sheets is known: the
source counted its rows, or the plan allows no more than a sheet holds.  Otherwise
XlsxWriter in constant-memory mode writes rows to disk as they come and opens sheets
as it goes.

Both writers do much of their work when the file is closed (zipping the sheets: seconds
for a million rows): the export's checkpoint is called meanwhile, so a cancel stops the
close, which then leaves nothing behind once ``abort`` is called.

Excel stops at 1,048,576 rows a sheet: the export continues on a new sheet (with the
header again) instead of being cut short.  A cell holds at most 32,767 characters: a
longer text is cut with a visible marker saying how much is missing, and counted
(``cells_cut``) so the export's result says so — never a silent cut.  Numbers and dates
stay typed; text is written as text, never as a formula, and neutralised like CSV.

Every sheet is named after the source, its header row frozen and filtered, its columns
sized for their header and first batch (:mod:`exportd.formats.xlsx_layout`).
"""

from __future__ import annotations

import math
import os
import shutil
import stat
import tempfile
import time
from contextlib import suppress
from datetime import date, datetime
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import xlsxwriter

from exportd.errors import StorageError
from exportd.formats.base import INFINITY, Checkpoint, OutputColumn, RowWriter, no_checkpoint
from exportd.formats.safety import neutralise
from exportd.formats.xlsx_cells import prepare
from exportd.formats.xlsx_layout import column_widths, sheet_name
from exportd.private import DIR_MODE

MAX_ROWS = 1_048_576  # a sheet's rows, the header's included
STALE_AFTER_S = 86_400
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
DATE_FORMAT = "yyyy-mm-dd"


def spool_dir() -> Path:
    """Where both writers keep their temporary files: one folder, so that what a killed
    worker child left behind can be found and removed (``remove_stale_spool``).

    The files hold rows of an export: the folder is this user's own (its uid in the
    name, 0700, checked — /tmp is shared, and a folder another user made first could
    be read or swept by them), and the files in it are 0600 (``mkstemp``, XlsxWriter's
    ``TemporaryFile``)."""
    folder = Path(tempfile.gettempdir()) / f"exportd-xlsx-{os.geteuid()}"
    folder.mkdir(mode=DIR_MODE, exist_ok=True)
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise StorageError(f"{folder} is not a folder of this user's: remove it")
    if stat.S_IMODE(info.st_mode) != DIR_MODE:
        folder.chmod(DIR_MODE)
    return folder


def remove_stale_spool(now: float | None = None, folder: Path | None = None) -> int:
    """Remove temporary files, and XlsxWriter's folders, untouched for a day (a
    SIGKILLed child cannot clean up).

    Judged by the inode's change time, not the modification time: XlsxWriter dates the
    parts it is zipping to 1980 (``os.utime``), and a sweep by mtime deleted another
    child's workbook while it was being written."""
    limit = (time.time() if now is None else now) - STALE_AFTER_S
    removed = 0
    for path in (folder or spool_dir()).iterdir():
        with suppress(OSError):  # another child may remove it first
            if _last_change(path) < limit:  # a change time no utime can set back
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()
                removed += 1
    return removed


def _last_change(path: Path) -> float:
    changed = path.stat().st_ctime
    if path.is_dir():  # a workbook's folder is in use while any of its files changes
        changed = max([changed, *(p.stat().st_ctime for p in path.iterdir())])
    return changed


def open_xlsx(
    sink: BinaryIO,
    columns: list[OutputColumn],
    schema: pa.Schema,
    *,
    rows_expected: int | None = None,
    rows_allowed: int | None = None,
    title: str | None = None,
    checkpoint: Checkpoint = no_checkpoint,
) -> RowWriter:
    """The fast writer when the sheets can be counted up front, else XlsxWriter."""
    headers = [neutralise(c.label) for c in columns]
    bound = _rows_bound(rows_expected, rows_allowed)
    # The fast writer names its columns by header, through Arrow's C interface: a header
    # used twice is ambiguous there, and one holding a NUL ends at it (a C string).
    if bound is None or len(set(headers)) < len(headers) or any("\0" in h for h in headers):
        return XlsxWriter(sink, columns, title=title, checkpoint=checkpoint)
    from exportd.formats.xlsx_fast import FastXlsxWriter

    sheets = max(1, math.ceil(bound / (MAX_ROWS - 1)))
    return FastXlsxWriter(sink, columns, schema, sheets=sheets, title=title, checkpoint=checkpoint)


def _rows_bound(expected: int | None, allowed: int | None) -> int | None:
    if expected is not None:
        return expected if allowed is None else min(expected, allowed)
    # Uncounted: only a plan that fits one sheet says how many sheets there will be.
    return allowed if allowed is not None and allowed < MAX_ROWS else None


class CheckedSink:
    """The sink, calling the checkpoint before each write: XlsxWriter writes its zip
    in many small writes while it closes, so a cancel stops it there.

    Once the checkpoint has raised, the file is given up: what zipfile still writes
    as it unwinds (or when it is collected) is dropped, not raised again."""

    def __init__(self, sink: BinaryIO, checkpoint: Checkpoint) -> None:
        self._sink = sink
        self._checkpoint = checkpoint
        self._stopped = False

    def write(self, data: bytes) -> int:
        if self._stopped:
            return len(data)
        try:
            self._checkpoint()
        except BaseException:
            self._stopped = True
            raise
        return self._sink.write(data)

    def tell(self) -> int:
        return self._sink.tell()

    def flush(self) -> None:
        self._sink.flush()


class XlsxWriter:
    def __init__(
        self,
        sink: BinaryIO,
        columns: list[OutputColumn],
        *,
        max_rows: int = MAX_ROWS,
        title: str | None = None,
        checkpoint: Checkpoint | None = None,
    ):
        self.columns = columns
        self.headers = [neutralise(c.label) for c in columns]
        self.max_rows = max_rows
        self.title = title
        self.widths: list[float] | None = None  # from the first batch
        # A folder of its own in the spool: a close stopped half-way leaves XlsxWriter's
        # parts in it, which only this writer can tell from another child's.
        self._spool = tempfile.mkdtemp(prefix="xlsxwriter-", dir=spool_dir())
        self.workbook = xlsxwriter.Workbook(
            sink if checkpoint is None else CheckedSink(sink, checkpoint),
            {
                "constant_memory": True,
                "remove_timezone": True,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "tmpdir": self._spool,
            },
        )
        self.datetime_format = self.workbook.add_format({"num_format": DATETIME_FORMAT})
        self.date_format = self.workbook.add_format({"num_format": DATE_FORMAT})
        self.header_format = self.workbook.add_format({"bold": True})
        self.sheet: Any = None
        self.sheets = 0
        self.row = 0
        self.cells_cut = 0
        self._new_sheet()

    def _new_sheet(self) -> None:
        if self.sheet is not None:
            self._end_sheet()
        self.sheets += 1
        self.sheet = self.workbook.add_worksheet(sheet_name(self.title, self.sheets))
        self.sheet.freeze_panes(1, 0)
        for col, header in enumerate(self.headers):
            self.sheet.write_string(0, col, header, self.header_format)
        if self.widths is not None:
            self._size_columns()
        self.row = 1

    def _size_columns(self) -> None:
        for col, width in enumerate(self.widths or ()):
            self.sheet.set_column(col, col, width)

    def _end_sheet(self) -> None:
        """The filter over the rows the sheet got (XlsxWriter writes it on close)."""
        if self.headers:
            self.sheet.autofilter(0, 0, self.row - 1, len(self.headers) - 1)

    def write(self, batch: pa.RecordBatch) -> None:
        prepared = prepare(batch, self.headers)
        self.cells_cut += prepared.cells_cut
        if self.widths is None:
            self.widths = column_widths(self.headers, prepared.arrays)
            self._size_columns()
        for values in zip(*(a.to_pylist() for a in prepared.arrays), strict=True):
            if self.row >= self.max_rows:
                self._new_sheet()
            for col, value in enumerate(values):
                self._cell(col, value)
            self.row += 1

    def _cell(self, col: int, value: Any) -> None:
        # Text arrives neutralised and cut to fit (xlsx_cells.prepare).
        if value is None:
            return
        if isinstance(value, str):
            self.sheet.write_string(self.row, col, value)
        elif isinstance(value, bool):
            self.sheet.write_boolean(self.row, col, value)
        elif isinstance(value, float) and not math.isfinite(value):
            # As the fast writer: NaN is empty (Excel has none), infinities are text.
            if not math.isnan(value):
                self.sheet.write_string(self.row, col, INFINITY if value > 0 else "-" + INFINITY)
        elif isinstance(value, int | float):
            self.sheet.write_number(self.row, col, value)
        elif isinstance(value, datetime):
            self.sheet.write_datetime(self.row, col, value, self.datetime_format)
        elif isinstance(value, date):
            self.sheet.write_datetime(self.row, col, value, self.date_format)

    def close(self) -> None:
        if self.widths is None:  # no rows: sized for the headers
            self.widths = column_widths(self.headers)
            self._size_columns()
        self._end_sheet()
        try:
            self.workbook.close()
        except BaseException:
            self.abort()
            raise
        shutil.rmtree(self._spool, ignore_errors=True)

    def abort(self) -> None:
        # Constant-memory mode keeps each sheet's rows in a temporary file until close
        # zips them, and a close stopped half-way leaves the parts it had yet to zip: a
        # failed export must not leave them behind in a long-lived worker.
        for sheet in self.workbook.worksheets():
            handle = getattr(sheet, "row_data_fh", None)
            if handle is not None and not handle.closed:
                handle.close()
        shutil.rmtree(self._spool, ignore_errors=True)

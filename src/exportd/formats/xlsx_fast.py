"""XLSX through rust_xlsxwriter (the ``rustpy-xlsxwriter`` binding): ten times XlsxWriter.

The binding pulls its cells (an Arrow stream per sheet, the sheets named up front)
while exportd's writers are pushed batches.  A thread runs the binding and pulls
batches from a small queue that ``write`` fills, so the worker holds at most a few
batches whatever the row count.  Cells go over Arrow's C stream interface, never as
Python objects (dicts per row cost a third of the time); dates and times go as
Excel's serial numbers, which keep their milliseconds.  The binding writes in
constant-memory mode to a temporary file, which ``close`` copies into the sink: it
needs a path, and a buffer would hold the whole file in memory.

Closing waits for the binding to zip the file (seconds for a million rows) and copies
it, calling the export's checkpoint meanwhile.  A cancel there cannot stop the binding,
which is not interruptible: ``abort`` stops waiting for it, and the thread removes its
file when it is done.
"""

from __future__ import annotations

import os
import queue
import tempfile
import threading
from collections.abc import Iterator
from contextlib import suppress
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import rustpy_xlsxwriter as rx

from exportd.errors import RetryableJobError
from exportd.formats.base import INFINITY, Checkpoint, OutputColumn, no_checkpoint
from exportd.formats.safety import neutralise
from exportd.formats.xlsx import (
    DATE_FORMAT,
    DATETIME_FORMAT,
    MAX_ROWS,
    XlsxWriter,
    spool_dir,
)
from exportd.formats.xlsx_cells import prepare
from exportd.formats.xlsx_layout import column_widths, sheet_name

SHEET_ROWS = MAX_ROWS - 1  # the header takes a row
QUEUED_BATCHES = 2
WAIT_STEP_S = 0.05  # how often a wait for the binding calls the checkpoint
ABORT_WAIT_S = 0.5  # an abort waits this long for the thread, then leaves it to finish
COPY_CHUNK = 1 << 20
_END = object()  # close: no more rows
_ABORT = object()  # abort: stop, no file


class _Aborted(Exception):
    pass


class FastXlsxWriter:
    def __init__(
        self,
        sink: BinaryIO,
        columns: list[OutputColumn],
        schema: pa.Schema,
        *,
        sheets: int,
        title: str | None = None,
        checkpoint: Checkpoint = no_checkpoint,
    ) -> None:
        self.sink = sink
        self.title = title
        self.widths: list[float] = []  # from the first batch
        self._checkpoint = checkpoint
        self.columns = columns
        self.headers = [neutralise(c.label) for c in columns]
        self.capacity = sheets * SHEET_ROWS
        self.rows = 0
        self.cells_cut = 0
        self._sheets = sheets
        # Dates and times go to the binding as serial numbers with their number format.
        kinds = {h: schema.field(c.name).type for h, c in zip(self.headers, columns, strict=True)}
        self._formats = {
            header: DATE_FORMAT if pa.types.is_date(kind) else DATETIME_FORMAT
            for header, kind in kinds.items()
            if _is_temporal(kind)
        }
        self._queue: queue.Queue[object] = queue.Queue(maxsize=QUEUED_BATCHES)
        self._thread: threading.Thread | None = None  # started by the first batch
        self._failure: BaseException | None = None
        self._aborted = False
        self._finished = False
        # Who removes the temporary file when an abort stops waiting for the thread.
        self._lock = threading.Lock()
        self._saved = False  # the thread is done with the file
        self._abandoned = False  # an abort left the file to the thread
        fd, self._path = tempfile.mkstemp(suffix=".xlsx", dir=spool_dir())
        os.close(fd)

    def write(self, batch: pa.RecordBatch) -> None:
        if self.rows + batch.num_rows > self.capacity:
            # The sheets were counted from the source's count: rows came in since.
            raise RetryableJobError(
                "the source returned more rows than it counted (the data changed during "
                "the export)",
                code="rows_changed",
            )
        prepared = prepare(batch, self.headers)
        self.cells_cut += prepared.cells_cut
        arrays = [excel_serial(a) if _is_temporal(a.type) else a for a in prepared.arrays]
        cells = pa.RecordBatch.from_arrays(arrays, names=self.headers)
        if self._thread is None:
            self.widths = column_widths(self.headers, prepared.arrays)
            self._start(cells.schema)
        self._put(cells)
        self.rows += batch.num_rows

    def close(self) -> None:
        if self._finished:
            return
        try:
            if self._thread is None:  # no rows: the binding would write no header
                XlsxWriter(self.sink, self.columns, title=self.title).close()
            else:
                self._stop(_END)
                self._copy()
        except BaseException:
            self.abort()  # a failure, or the checkpoint's cancel
            raise
        self._finished = True
        _remove(self._path)

    def abort(self) -> None:
        if self._finished:
            return
        self._finished = True
        thread = self._thread
        if thread is None:
            _remove(self._path)
            return
        self._aborted = True
        self._halt()
        thread.join(ABORT_WAIT_S)  # pulling rows, it stops at once; zipping, it does not
        with self._lock:
            self._abandoned = not self._saved
        if not self._abandoned:
            _remove(self._path)

    def _copy(self) -> None:
        with open(self._path, "rb") as written:
            while chunk := written.read(COPY_CHUNK):
                self._checkpoint()
                self.sink.write(chunk)

    def _start(self, schema: pa.Schema) -> None:
        cut = _Sheets(self._batches(schema), SHEET_ROWS)
        sheets = [
            (sheet_name(self.title, n), pa.RecordBatchReader.from_batches(schema, cut.next_sheet()))
            for n in range(1, self._sheets + 1)
        ]
        self._thread = threading.Thread(target=self._save, args=(sheets,), name="xlsx", daemon=True)
        self._thread.start()

    def _save(self, sheets: list[tuple[str, Any]]) -> None:
        formats = {header: rx.Format().set_num_format(f) for header, f in self._formats.items()}
        names = [name for name, _ in sheets]
        try:
            rx.write_worksheets(
                sheets,
                self._path,
                bold_headers=True,
                column_formats=dict.fromkeys(names, formats),
                column_widths=dict.fromkeys(names, self.widths),
                freeze_panes={"general": {"row": 1, "col": 0}},
                autofilter=dict.fromkeys(names, True),
                inf_value=INFINITY,
            )
        except BaseException as exc:  # handed to the caller's thread by _put and _stop
            if not self._aborted:  # an abort comes back as the binding's stream error
                self._failure = exc
        finally:
            with self._lock:
                self._saved = True
                left_to_us = self._abandoned
            if left_to_us:
                _remove(self._path)

    def _batches(self, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        while (item := self._queue.get()) is not _END:
            if item is _ABORT:
                raise _Aborted
            assert isinstance(item, pa.RecordBatch)
            yield item if item.schema.equals(schema) else item.cast(schema)

    def _put(self, item: object) -> None:
        # Never wait on a thread that has stopped pulling: say why it stopped.
        assert self._thread is not None
        while True:
            try:
                self._queue.put(item, timeout=WAIT_STEP_S)
                return
            except queue.Full:
                if not self._thread.is_alive():
                    raise self._failure or RuntimeError("the XLSX writer stopped") from None
                self._checkpoint()

    def _stop(self, item: object) -> None:
        """Hand over the last item and wait for the binding to finish the file."""
        assert self._thread is not None
        self._put(item)
        self._thread.join(WAIT_STEP_S)
        while self._thread.is_alive():
            self._checkpoint()
            self._thread.join(WAIT_STEP_S)
        if self._failure is not None:
            raise self._failure

    def _halt(self) -> None:
        """Make the thread stop pulling: what it has yet to take is dropped."""
        with suppress(queue.Empty):
            while True:
                self._queue.get_nowait()
        with suppress(queue.Full):  # only this thread puts: there is room now
            self._queue.put_nowait(_ABORT)


def _remove(path: str) -> None:
    with suppress(FileNotFoundError):
        os.unlink(path)


# 1899-12-31, XlsxWriter's day zero, in microseconds from the Unix epoch.
_DAY_ZERO_US = -25_568 * 86_400_000_000


def _is_temporal(kind: pa.DataType) -> bool:
    return bool(pa.types.is_date(kind) or pa.types.is_timestamp(kind))


def excel_serial(array: pa.Array) -> pa.Array:
    """Wall-clock times or dates as Excel's serial day numbers, computed as XlsxWriter
    does (the 1900 system, its phantom 29 February 1900 counted).  The binding's own
    conversion keeps whole seconds only and refuses years before 1900."""
    micros = pc.cast(pc.cast(array, pa.timestamp("us"), safe=False), pa.int64())
    days = pc.divide(pc.cast(pc.subtract(micros, _DAY_ZERO_US), pa.float64()), 86_400e6)
    return pc.if_else(pc.greater(days, 59), pc.add(days, 1.0), days)


class _Sheets:
    """One stream of batches cut into sheets of at most ``rows`` rows: a batch that
    straddles a sheet's end is split.  Lazy: the binding pulls a sheet's batches when
    it writes that sheet, one sheet after the other."""

    def __init__(self, batches: Iterator[pa.RecordBatch], rows: int) -> None:
        self._batches = batches
        self._rows = rows
        self._carried: pa.RecordBatch | None = None

    def next_sheet(self) -> Iterator[pa.RecordBatch]:
        room = self._rows
        while room:
            batch, self._carried = self._carried, None
            if batch is None:
                batch = next(self._batches, None)
            if batch is None:
                return
            if batch.num_rows > room:
                batch, self._carried = batch.slice(0, room), batch.slice(room)
            room -= batch.num_rows
            yield batch

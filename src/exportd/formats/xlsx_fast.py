"""XLSX through rust_xlsxwriter (the ``rustpy-xlsxwriter`` binding): ten times XlsxWriter.

The binding pulls rows (an iterable of mappings per sheet, its sheets named up front)
while exportd's writers are pushed batches.  A thread runs the binding and pulls
batches from a small queue that ``write`` fills, so the worker holds at most a few
batches whatever the row count.  The binding writes in constant-memory mode to a
temporary file, which ``close`` copies into the sink: it needs a path, and a buffer
would hold the whole file in memory.
"""

from __future__ import annotations

import itertools
import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import suppress
from typing import Any, BinaryIO

import pyarrow as pa
import rustpy_xlsxwriter as rx

from exportd.errors import RetryableJobError
from exportd.formats.base import OutputColumn
from exportd.formats.safety import neutralise
from exportd.formats.xlsx import (
    DATE_FORMAT,
    DATETIME_FORMAT,
    INFINITY,
    MAX_ROWS,
    XlsxWriter,
    spool_dir,
)
from exportd.formats.xlsx_cells import prepare

SHEET_ROWS = MAX_ROWS - 1  # the header takes a row
QUEUED_BATCHES = 2
PYTHON_ROWS = 1_000
_END = object()  # close: no more rows
_ABORT = object()  # abort: stop, no file


class _Aborted(Exception):
    pass


class FastXlsxWriter:
    def __init__(
        self, sink: BinaryIO, columns: list[OutputColumn], schema: pa.Schema, *, sheets: int
    ) -> None:
        self.sink = sink
        self.columns = columns
        self.headers = [neutralise(c.label) for c in columns]
        self.capacity = sheets * SHEET_ROWS
        self.rows = 0
        self.cells_cut = 0
        self._sheets = sheets
        self._date_headers = [
            header
            for header, c in zip(self.headers, columns, strict=True)
            if pa.types.is_date(schema.field(c.name).type)
        ]
        self._queue: queue.Queue[object] = queue.Queue(maxsize=QUEUED_BATCHES)
        self._thread: threading.Thread | None = None  # started by the first batch
        self._failure: BaseException | None = None
        self._finished = False
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
        if self._thread is None:
            self._start()
        prepared = prepare(batch)
        self.cells_cut += prepared.cells_cut
        self._put(pa.RecordBatch.from_arrays(prepared.arrays, names=self.headers))
        self.rows += batch.num_rows

    def close(self) -> None:
        if self._finished:
            return
        self._finished = True
        try:
            if self._thread is None:  # no rows: the binding would write no header
                XlsxWriter(self.sink, self.columns).close()
                return
            self._stop(_END)
            with open(self._path, "rb") as written:
                shutil.copyfileobj(written, self.sink, 1 << 20)
        finally:
            os.unlink(self._path)

    def abort(self) -> None:
        if self._finished:
            return
        self._finished = True
        try:
            if self._thread is not None:
                with suppress(Exception):  # the failure that brought us here is reported
                    self._stop(_ABORT)
        finally:
            os.unlink(self._path)

    def _start(self) -> None:
        rows = self._rows()
        sheets = [
            (f"Sheet{n}", itertools.islice(rows, SHEET_ROWS)) for n in range(1, self._sheets + 1)
        ]
        self._thread = threading.Thread(target=self._save, args=(sheets,), name="xlsx", daemon=True)
        self._thread.start()

    def _save(self, sheets: list[tuple[str, Any]]) -> None:
        formats = {header: rx.Format().set_num_format(DATE_FORMAT) for header in self._date_headers}
        try:
            rx.write_worksheets(
                sheets,
                self._path,
                datetime_format=DATETIME_FORMAT,
                bold_headers=True,
                column_formats={name: formats for name, _ in sheets},
                inf_value=INFINITY,
            )
        except _Aborted:
            pass
        except BaseException as exc:  # handed to the caller's thread by _put and _stop
            self._failure = exc

    def _rows(self) -> Iterator[dict[str, object]]:
        while (item := self._queue.get()) is not _END:
            if item is _ABORT:
                raise _Aborted
            assert isinstance(item, pa.RecordBatch)
            # Python objects for a slice at a time: a row is a dict of boxed values, and
            # a whole batch of them would cost the worker memory.
            for start in range(0, item.num_rows, PYTHON_ROWS):
                yield from item.slice(start, PYTHON_ROWS).to_pylist()

    def _put(self, item: object) -> None:
        # Never wait on a thread that has stopped pulling: say why it stopped.
        assert self._thread is not None
        while True:
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                if not self._thread.is_alive():
                    raise self._failure or RuntimeError("the XLSX writer stopped") from None

    def _stop(self, item: object) -> None:
        assert self._thread is not None
        self._put(item)
        self._thread.join()
        if self._failure is not None:
            raise self._failure

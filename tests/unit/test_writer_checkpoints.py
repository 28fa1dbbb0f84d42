"""A cancel stops an export within one batch: the writers whose work is long (a batch
formatted for a locale, the zip an XLSX file is finished with) call the export's
checkpoint meanwhile, and a checkpoint that raises leaves nothing behind.  So does the
wait for a source's next batch."""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from exportd.errors import JobCancelled
from exportd.formats import OutputColumn, WriteOptions, open_writer, xlsx_fast
from exportd.formats.xlsx import XlsxWriter, spool_dir
from exportd.formats.xlsx_fast import FastXlsxWriter
from exportd.sources.prefetch import prefetched

ROWS = 20_000
SCHEMA = pa.schema([("n", pa.int64()), ("x", pa.float64()), ("word", pa.string())])
COLUMNS = [OutputColumn(f.name, f.name) for f in SCHEMA]
BATCH = pa.RecordBatch.from_pydict(
    {
        "n": list(range(ROWS)),
        "x": [i / 7 for i in range(ROWS)],
        "word": [f"row {i}" for i in range(ROWS)],
    },
    SCHEMA,
)


class Cancel:
    """A checkpoint that raises from its ``after``-th call on, as a cancel does."""

    def __init__(self, after: int) -> None:
        self.after = after
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        if self.calls >= self.after:
            raise JobCancelled("job 1 was cancelled")


def xlsx_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "xlsx"]


def test_a_localized_csv_hears_a_cancel_inside_a_batch() -> None:
    """Formatting for a locale takes seconds for a batch of 10,000 rows: the cancel must
    not wait for the batch to end (nor for the export's last row)."""
    sink = io.BytesIO()
    cancel = Cancel(after=2)
    writer = open_writer(
        "csv", sink, COLUMNS, SCHEMA, WriteOptions(locale="de_DE"), checkpoint=cancel
    )
    with pytest.raises(JobCancelled):
        writer.write(BATCH)
    assert cancel.calls == 2
    rows = sink.getvalue().decode().splitlines()[1:]
    assert 0 < len(rows) < ROWS // 10  # a slice or two were written, not the batch


def test_a_csv_without_a_locale_writes_its_batch_whole() -> None:
    """The fast path has no per-value work to interrupt: one call to the C++ writer."""
    sink = io.BytesIO()
    writer = open_writer("csv", sink, COLUMNS, SCHEMA, WriteOptions(), checkpoint=Cancel(1))
    writer.write(BATCH)
    writer.close()
    assert len(sink.getvalue().splitlines()) == ROWS + 1


def test_xlsxwriter_close_is_stopped_and_leaves_nothing() -> None:
    sink = io.BytesIO()
    cancel = Cancel(after=3)  # a few writes of the zip, then the cancel
    writer = XlsxWriter(sink, COLUMNS, checkpoint=cancel)
    writer.write(BATCH)
    folder = Path(writer.workbook.worksheets()[0].row_data_filename).parent
    assert folder.parent == spool_dir()
    with pytest.raises(JobCancelled):
        writer.close()
    assert cancel.calls == 3
    writer.abort()  # as the export task does; nothing left to do
    assert not folder.exists()  # the rows and the parts it had yet to zip


def test_xlsxwriter_checks_at_every_write_of_its_zip() -> None:
    cancel = Cancel(after=10**9)
    writer = XlsxWriter(io.BytesIO(), COLUMNS, checkpoint=cancel)
    writer.write(BATCH)
    writer.close()
    assert cancel.calls > 20  # many small writes: a cancel is heard within a few ms


def test_the_fast_writer_close_is_stopped_and_leaves_nothing() -> None:
    sink = io.BytesIO()
    writer = FastXlsxWriter(sink, COLUMNS, SCHEMA, sheets=1, checkpoint=Cancel(after=1))
    writer.write(BATCH)
    with pytest.raises(JobCancelled):
        writer.close()
    for thread in xlsx_threads():
        thread.join(10)
    assert not os.path.exists(writer._path)
    assert sink.getvalue() == b""  # never copied


def test_a_cancel_does_not_wait_for_the_binding_to_zip(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """rust_xlsxwriter cannot be interrupted once it zips: the abort stops waiting for
    it, and the thread removes the file it leaves when it is done."""
    zipping = threading.Event()

    def slow_zip(sheets, path, **options):  # type: ignore[no-untyped-def]
        for _name, reader in sheets:
            reader.read_all()
        zipping.set()
        time.sleep(2.0)
        Path(path).write_bytes(b"PK")

    monkeypatch.setattr(xlsx_fast.rx, "write_worksheets", slow_zip)
    writer = FastXlsxWriter(io.BytesIO(), COLUMNS, SCHEMA, sheets=1, checkpoint=Cancel(after=3))
    writer.write(BATCH)
    started = time.monotonic()
    with pytest.raises(JobCancelled):
        writer.close()
    assert time.monotonic() - started < 1.5
    assert zipping.is_set()
    [thread] = xlsx_threads()
    thread.join(10)
    assert not os.path.exists(writer._path)


def test_waiting_for_a_slow_source_hears_a_cancel() -> None:
    """The first batch of a big query can take seconds to come: the loop would only
    reach its checkpoint after it."""
    answer = threading.Event()

    def slow_source() -> Iterator[int]:
        answer.wait(10)
        yield 1

    cancel = Cancel(after=2)
    threading.Timer(0.5, answer.set).start()  # the query answers later; the cancel is first
    started = time.monotonic()
    with pytest.raises(JobCancelled), prefetched(slow_source(), on_wait=cancel) as items:
        list(items)
    assert cancel.calls == 2
    assert time.monotonic() - started < 2

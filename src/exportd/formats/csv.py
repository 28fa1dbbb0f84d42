"""CSV through pyarrow's C++ writer: no Python object per row or cell (unless the user
asked for a locale's number and date formats).

Formatting for a locale goes value by value in Python, about 16 us a row of five
columns here (Babel took 54): a batch of 10,000 rows takes a tenth of a second or more.
It is written in slices with a checkpoint between them, so a cancel does not wait for
the batch (nor the export for its last row).
"""

from __future__ import annotations

from typing import BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv

from exportd.formats.base import Checkpoint, OutputColumn, SinkOnly, WriteOptions, no_checkpoint
from exportd.formats.localized import is_localized, localize
from exportd.formats.safety import neutralise, neutralise_array
from exportd.formats.timestamps import is_zoned, zoned_text

LOCALIZED_SLICE_ROWS = 500  # about 8 ms of formatting for a locale


class CsvWriter(SinkOnly):
    def __init__(
        self,
        sink: BinaryIO,
        columns: list[OutputColumn],
        schema: pa.Schema,
        options: WriteOptions,
        *,
        checkpoint: Checkpoint = no_checkpoint,
    ) -> None:
        self._checkpoint = checkpoint
        # Headers are text the user chose (a rename): neutralised like any other cell.
        self.labels = [neutralise(c.label) for c in columns]
        self.locale = options.locale
        labelled_schema = pa.schema(
            [
                pa.field(label, self._type(schema.field(c.name).type))
                for label, c in zip(self.labels, columns, strict=True)
            ]
        )
        if options.bom:
            sink.write(b"\xef\xbb\xbf")
        write_options = pacsv.WriteOptions(delimiter=options.delimiter, eol=options.line_terminator)
        self._writer = pacsv.CSVWriter(sink, labelled_schema, write_options=write_options)

    def _type(self, data_type: pa.DataType) -> pa.DataType:
        if self.locale and is_localized(data_type):
            return pa.string()
        return pa.string() if is_zoned(data_type) else data_type

    def write(self, batch: pa.RecordBatch) -> None:
        if not self.locale:
            self._write(batch)
            return
        for start in range(0, batch.num_rows, LOCALIZED_SLICE_ROWS):
            if start:
                self._checkpoint()
            self._write(batch.slice(start, LOCALIZED_SLICE_ROWS))

    def _write(self, batch: pa.RecordBatch) -> None:
        # Text is neutralised; numbers and dates are ours even when written as text
        # for a locale, so "-1234,5" keeps its sign.
        arrays = [neutralise_array(array) for array in batch.columns]
        if self.locale:
            arrays = [
                localize(array, self.locale, column=label)
                for array, label in zip(arrays, self.labels, strict=True)
            ]
        arrays = [zoned_text(a, "csv") if is_zoned(a.type) else a for a in arrays]
        self._writer.write_batch(pa.RecordBatch.from_arrays(arrays, names=self.labels))

    def close(self) -> None:
        self._writer.close()

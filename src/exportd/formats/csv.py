"""CSV through pyarrow's C++ writer: no Python object per row or cell."""

from __future__ import annotations

from typing import BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv

from exportd.formats.base import OutputColumn, WriteOptions
from exportd.formats.safety import neutralise, neutralise_array


class CsvWriter:
    def __init__(
        self,
        sink: BinaryIO,
        columns: list[OutputColumn],
        schema: pa.Schema,
        options: WriteOptions,
    ) -> None:
        # Headers are text the user chose (a rename): neutralised like any other cell.
        self.labels = [neutralise(c.label) for c in columns]
        labelled_schema = pa.schema(
            [
                pa.field(label, schema.field(c.name).type)
                for label, c in zip(self.labels, columns, strict=True)
            ]
        )
        if options.bom:
            sink.write(b"\xef\xbb\xbf")
        write_options = pacsv.WriteOptions(delimiter=options.delimiter)
        self._writer = pacsv.CSVWriter(sink, labelled_schema, write_options=write_options)

    def write(self, batch: pa.RecordBatch) -> None:
        arrays = [neutralise_array(array) for array in batch.columns]
        self._writer.write_batch(pa.RecordBatch.from_arrays(arrays, names=self.labels))

    def close(self) -> None:
        self._writer.close()

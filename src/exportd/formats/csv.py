"""CSV through pyarrow's C++ writer: no Python object per row or cell (unless the user
asked for a locale's number and date formats)."""

from __future__ import annotations

from typing import BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv

from exportd.formats.base import OutputColumn, SinkOnly, WriteOptions
from exportd.formats.localized import is_localized, localize
from exportd.formats.safety import neutralise, neutralise_array
from exportd.formats.timestamps import is_zoned, zoned_text


class CsvWriter(SinkOnly):
    def __init__(
        self,
        sink: BinaryIO,
        columns: list[OutputColumn],
        schema: pa.Schema,
        options: WriteOptions,
    ) -> None:
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
        write_options = pacsv.WriteOptions(delimiter=options.delimiter)
        self._writer = pacsv.CSVWriter(sink, labelled_schema, write_options=write_options)

    def _type(self, data_type: pa.DataType) -> pa.DataType:
        if self.locale and is_localized(data_type):
            return pa.string()
        return pa.string() if is_zoned(data_type) else data_type

    def write(self, batch: pa.RecordBatch) -> None:
        # Text is neutralised; numbers and dates are ours even when written as text
        # for a locale, so "-1234,5" keeps its sign.
        arrays = [neutralise_array(array) for array in batch.columns]
        if self.locale:
            arrays = [localize(array, self.locale) for array in arrays]
        arrays = [zoned_text(a, "csv") if is_zoned(a.type) else a for a in arrays]
        self._writer.write_batch(pa.RecordBatch.from_arrays(arrays, names=self.labels))

    def close(self) -> None:
        self._writer.close()

"""Parquet through pyarrow: one row group per batch, columns typed."""

from __future__ import annotations

from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from exportd.formats.base import OutputColumn, labelled


class ParquetWriter:
    def __init__(self, sink: BinaryIO, columns: list[OutputColumn], schema: pa.Schema) -> None:
        self.columns = columns
        labelled_schema = pa.schema([pa.field(c.label, schema.field(c.name).type) for c in columns])
        self._writer = pq.ParquetWriter(sink, labelled_schema, compression="zstd")

    def write(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(labelled(batch, self.columns))

    def close(self) -> None:
        self._writer.close()

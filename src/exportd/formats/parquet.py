"""Parquet through pyarrow, columns typed.

Batches are gathered into row groups of about ``ROW_GROUP_ROWS`` rows: a row group per
source batch (10,000 rows) made files larger and slower to write and to read, and a
bounded buffer keeps the worker's memory flat (groups of 131,072 rows did not: the
worker grew by 50 MB from 100 k to 1 M rows).  Groups of 32,768 rather than 65,536: 6 to
10 MB less at the peak, a file 0.4% larger, as fast to write and to read.
"""

from __future__ import annotations

from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from exportd.formats.base import OutputColumn, SinkOnly, labelled

ROW_GROUP_ROWS = 32_768


class ParquetWriter(SinkOnly):
    def __init__(self, sink: BinaryIO, columns: list[OutputColumn], schema: pa.Schema) -> None:
        self.columns = columns
        labelled_schema = pa.schema([pa.field(c.label, schema.field(c.name).type) for c in columns])
        # Dictionaries for text only: on numbers and times (mostly distinct) pyarrow
        # builds one, then gives up on it per row group.  A million trades: 23.4 → 17.5
        # MB and 15 MB less memory, no slower.
        text = [f.name for f in labelled_schema if _is_text(f.type)]
        self._writer = pq.ParquetWriter(
            sink, labelled_schema, compression="zstd", use_dictionary=text
        )
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        self._pending.append(labelled(batch, self.columns))
        self._pending_rows += batch.num_rows
        if self._pending_rows >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._writer.write_table(
                pa.Table.from_batches(self._pending), row_group_size=self._pending_rows
            )
        self._pending = []
        self._pending_rows = 0

    def close(self) -> None:
        self._flush()
        self._writer.close()


def _is_text(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))

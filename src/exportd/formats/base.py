"""The writer port and the format table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Protocol

import pyarrow as pa


@dataclass(frozen=True, slots=True)
class OutputColumn:
    name: str  # the source column
    label: str  # the header the user asked for


class RowWriter(Protocol):
    def write(self, batch: pa.RecordBatch) -> None:
        """Write one batch whose columns are the output columns, in order."""

    def close(self) -> None:
        """Finish the file (footer, closing bracket, zip directory)."""


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    extension: str
    content_type: str


FORMATS = {
    f.name: f
    for f in (
        Format("csv", "csv", "text/csv; charset=utf-8"),
        Format("jsonl", "jsonl", "application/jsonl"),
        Format("json", "json", "application/json"),
        Format("parquet", "parquet", "application/vnd.apache.parquet"),
        Format("xlsx", "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    )
}


def open_writer(
    format_name: str, sink: BinaryIO, columns: list[OutputColumn], schema: pa.Schema
) -> RowWriter:
    # Imported here: a worker that never writes XLSX never loads xlsxwriter.
    if format_name == "csv":
        from exportd.formats.csv import CsvWriter

        return CsvWriter(sink, columns, schema)
    if format_name in ("jsonl", "json"):
        from exportd.formats.json import JsonWriter

        return JsonWriter(sink, columns, array=format_name == "json")
    if format_name == "parquet":
        from exportd.formats.parquet import ParquetWriter

        return ParquetWriter(sink, columns, schema)
    if format_name == "xlsx":
        from exportd.formats.xlsx import XlsxWriter

        return XlsxWriter(sink, columns)
    raise ValueError(f"no writer for {format_name!r}")


def labelled(batch: pa.RecordBatch, columns: list[OutputColumn]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(batch.columns, names=[c.label for c in columns])

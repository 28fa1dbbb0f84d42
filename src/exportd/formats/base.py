"""The writer port and the format table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol, TypeVar

import pyarrow as pa

from exportd.errors import TerminalJobError

ArrowData = TypeVar("ArrowData", pa.Schema, pa.RecordBatch)

# Excel's own word for an infinity (``-INF`` below zero): a spreadsheet has no such
# number, so XLSX cells and a locale's CSV write this text.
INFINITY = "INF"

# Called by a writer between the steps of long work (a batch written for a locale, the
# zip an XLSX file is finished with); it raises to stop the export (a cancel).
Checkpoint = Callable[[], None]


def no_checkpoint() -> None:
    """The checkpoint of a writer nobody can cancel (tests, benchmarks)."""


def unwritable(column: str, kind: pa.DataType, writer: str) -> TerminalJobError:
    """A value the writer cannot write (a date past the year 9999 as a Python date).
    Permanent: every attempt would meet it.  The message names the column and its
    type, never the value (row data stays out of errors and logs)."""
    return TerminalJobError(
        f"column {column!r} holds a {kind} value that cannot be written as {writer}; "
        "the export cannot succeed while the data holds it",
        code="value_unwritable",
    )


@dataclass(frozen=True, slots=True)
class WriteOptions:
    """How the user wants the file: machine-readable defaults, opt-ins for spreadsheets."""

    delimiter: str = ","  # CSV only
    bom: bool = False  # CSV only: a UTF-8 byte-order mark, for Excel on Windows
    timezone: str = "UTC"  # the zone timestamps are written in
    locale: str | None = None  # CSV only: numbers and dates as this locale writes them
    # CSV only: "\n" (the default: what every reader takes and line tools expect) or
    # RFC 4180's "\r\n".  Line breaks inside a quoted text are written as they are.
    line_terminator: str = "\n"
    # Not the writer's but the export's: on a failure after rows were written, keep the
    # file of those rows (closed, valid) instead of discarding it.
    keep_partial: bool = False
    # PDF documents only: the standard the file conforms to ("pdf/a-2b"), or none.
    pdf_standard: str | None = None
    # Not the writer's but the export's: "gzip" or "zip", applied around the writer's
    # output (formats/compression.py); CSV, JSON Lines and JSON only.
    compression: str | None = None
    # Not the writer's but the export's: {"rows" or "bytes": N, "deliver": "zip" or
    # "parts"}, the export cut into parts (exports/split_writer.py).
    split: dict[str, Any] | None = None

    @classmethod
    def of(cls, options: dict[str, object] | None) -> WriteOptions:
        return cls(**(options or {}))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class OutputColumn:
    name: str  # the source column
    label: str  # the header the user asked for


class RowWriter(Protocol):
    def write(self, batch: pa.RecordBatch) -> None:
        """Write one batch whose columns are the output columns, in order."""

    def close(self) -> None:
        """Finish the file (footer, closing bracket, zip directory).  When the
        checkpoint raises meanwhile, the error comes out of ``close`` and ``abort``
        still releases what the writer holds."""

    def abort(self) -> None:
        """Give up the file after a failure: release what the writer holds."""


class SinkOnly:
    """A writer that holds nothing but the sink, which the storage writer discards."""

    def abort(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    extension: str
    content_type: str
    # Its writer needs the row count before the first row (XLSX names its sheets then).
    counted_first: bool = False


FORMATS = {
    f.name: f
    for f in (
        Format("csv", "csv", "text/csv; charset=utf-8"),
        Format("jsonl", "jsonl", "application/jsonl"),
        Format("json", "json", "application/json"),
        Format("parquet", "parquet", "application/vnd.apache.parquet"),
        Format(
            "xlsx",
            "xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            counted_first=True,
        ),
    )
}


def open_writer(
    format_name: str,
    sink: BinaryIO,
    columns: list[OutputColumn],
    schema: pa.Schema,
    options: WriteOptions | None = None,
    *,
    rows_expected: int | None = None,
    rows_allowed: int | None = None,
    title: str | None = None,
    checkpoint: Checkpoint = no_checkpoint,
) -> RowWriter:
    """``rows_expected`` (the source's count) and ``rows_allowed`` (the plan's) let the
    XLSX writer count its sheets up front; ``title`` (the source's) names them.
    ``checkpoint`` is called within the writers' long steps, so that a cancel stops an
    export within one batch."""
    # Imported here: a worker that never writes XLSX never loads its libraries.
    if format_name == "csv":
        from exportd.formats.csv import CsvWriter

        return CsvWriter(sink, columns, schema, options or WriteOptions(), checkpoint=checkpoint)
    if format_name in ("jsonl", "json"):
        from exportd.formats.json import JsonWriter

        return JsonWriter(sink, columns, array=format_name == "json")
    if format_name == "parquet":
        from exportd.formats.parquet import ParquetWriter

        return ParquetWriter(sink, columns, schema)
    if format_name == "xlsx":
        from exportd.formats.xlsx import open_xlsx

        return open_xlsx(
            sink,
            columns,
            schema,
            rows_expected=rows_expected,
            rows_allowed=rows_allowed,
            title=title,
            checkpoint=checkpoint,
        )
    raise ValueError(f"no writer for {format_name!r}")


def to_zone(data: ArrowData, zone: str) -> ArrowData:
    """Time-zone-aware timestamp columns re-expressed in ``zone`` (the same instants):
    CSV then writes local times with their offset, JSON ISO times with it, XLSX the local
    wall time and Parquet keeps the zone.  A schema or a batch."""
    if zone == "UTC":
        return data
    schema = data if isinstance(data, pa.Schema) else data.schema
    fields = [
        pa.field(f.name, pa.timestamp(f.type.unit, tz=zone), f.nullable)
        if pa.types.is_timestamp(f.type) and f.type.tz is not None
        else f
        for f in schema
    ]
    if isinstance(data, pa.Schema):
        return pa.schema(fields)
    return data.cast(pa.schema(fields))


def labelled(batch: pa.RecordBatch, columns: list[OutputColumn]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(batch.columns, names=[c.label for c in columns])

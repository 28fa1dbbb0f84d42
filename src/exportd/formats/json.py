"""JSON Lines, or one JSON array streamed element by element, through orjson."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, BinaryIO

import orjson
import pyarrow as pa

from exportd.formats.base import OutputColumn

_OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(type(value).__name__)


class JsonWriter:
    def __init__(self, sink: BinaryIO, columns: list[OutputColumn], *, array: bool) -> None:
        self.sink = sink
        self.labels = [c.label for c in columns]
        self.array = array
        self.first = True
        if array:
            sink.write(b"[")

    def write(self, batch: pa.RecordBatch) -> None:
        columns = [array.to_pylist() for array in batch.columns]
        parts = []
        for values in zip(*columns, strict=True):
            row = orjson.dumps(
                dict(zip(self.labels, values, strict=True)), default=_default, option=_OPTIONS
            )
            if self.array:
                parts.append(row if self.first else b"," + row)
                self.first = False
            else:
                parts.append(row + b"\n")
        self.sink.write(b"".join(parts))

    def close(self) -> None:
        if self.array:
            self.sink.write(b"]")

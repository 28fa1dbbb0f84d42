"""A source whose first read fails half-way with a retryable error quoting a row, and
whose second succeeds (loaded by the worker from ``EXPORTD_SOURCE_MODULES``): an export
with a retried attempt.  Its params name a folder where it notes the first failure."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection

from exportd.sources import Source
from exportd.sources.base import ColumnSpec, TabularSource

ROW_VALUE = "row-value-Qx7319"  # what must never appear in a span
SCHEMA = pa.schema([("n", pa.int64()), ("secret", pa.string())])


class FlakyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    folder: str


def rows() -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(
        {"n": [1, 2, 3], "secret": [f"{ROW_VALUE}-{i}" for i in range(3)]}, SCHEMA
    )


class FlakyRows(TabularSource):
    def count(self, conn: Connection, owner_id: str, params: BaseModel) -> int | None:
        return 3

    def batches(
        self, conn: Connection, owner_id: str, params: BaseModel, columns: list[str], **kw: Any
    ) -> Iterator[pa.RecordBatch]:
        assert isinstance(params, FlakyParams)
        yield rows().select(columns)
        failed = Path(params.folder) / "failed-once"
        if not failed.exists():
            failed.touch()
            # A message that quotes the data, as drivers' do: it must stay out of spans.
            raise ConnectionError(f"the source went away after {ROW_VALUE}-2")

    def arrow_schema(self, columns: list[str]) -> pa.Schema:
        return pa.schema([SCHEMA.field(name) for name in columns])


def flaky_sources() -> list[Source]:
    return [
        FlakyRows(
            name="flaky_rows",
            title="Rows that fail once",
            kind="rows",
            params_model=FlakyParams,
            formats=("csv",),
            columns=(ColumnSpec("n", "integer", "N"), ColumnSpec("secret", "string", "Secret")),
        )
    ]

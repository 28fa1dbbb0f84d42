"""Sources that stop at a gate, so a test can cancel an export at a known point of its
run (loaded by the worker from ``EXPORTD_SOURCE_MODULES``).

The params name a folder: the source writes ``held`` there when it reaches the gate
and waits until the test writes ``open`` (unless told not to hold); it notes each batch
it yields in ``yielded``.
``gated_rows`` makes its rows up (numbers, times, text: every kind a locale or a sheet
formats); ``gated_resume`` is a resume whose loading waits at the gate.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection

from exportd.sources import Source
from exportd.sources.base import ColumnSpec, DocumentSource, TabularSource

GATE_TIMEOUT_S = 60.0
SCHEMA = pa.schema(
    [
        ("n", pa.int64()),
        ("price", pa.float64()),
        ("at", pa.timestamp("us", tz="UTC")),
        ("day", pa.date32()),
        ("note", pa.string()),
    ]
)
COLUMNS = (
    ColumnSpec("n", "integer", "N"),
    ColumnSpec("price", "number", "Price"),
    ColumnSpec("at", "datetime", "At"),
    ColumnSpec("day", "date", "Day"),
    ColumnSpec("note", "string", "Note"),
)


class GateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gate: str = Field(description="the folder the test and the source meet in")
    before: int = Field(default=100, description="rows yielded before the gate")
    after: int = Field(default=400, description="rows yielded after it, in one batch")
    countable: bool = Field(default=True, description="False: count() knows nothing")
    hold: bool = Field(default=True, description="False: no gate, the rows at once")
    page_size: str | None = None


class Gate:
    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)

    def note(self, name: str, text: str = "") -> None:
        with (self.folder / name).open("a") as handle:
            handle.write(text)

    def hold(self) -> None:
        self.note("held")
        deadline = time.monotonic() + GATE_TIMEOUT_S
        while not (self.folder / "open").exists():
            if time.monotonic() > deadline:
                raise TimeoutError("the test never opened the gate")
            time.sleep(0.01)


def made_up_rows(start: int, count: int) -> pa.RecordBatch:
    numbers = range(start, start + count)
    epoch = datetime(2026, 1, 1, tzinfo=UTC)
    return pa.RecordBatch.from_pydict(
        {
            "n": list(numbers),
            "price": [i * 1.25 for i in numbers],
            "at": [epoch + timedelta(minutes=i) for i in numbers],
            "day": [date(2026, 1, 1) + timedelta(days=i % 365) for i in numbers],
            "note": [f"row {i}" for i in numbers],
        },
        SCHEMA,
    )


class GatedRows(TabularSource):
    def count(self, conn: Connection, owner_id: str, params: BaseModel) -> int | None:
        assert isinstance(params, GateParams)
        return params.before + params.after if params.countable else None

    def batches(
        self, conn: Connection, owner_id: str, params: BaseModel, columns: list[str], **kw: Any
    ) -> Iterator[pa.RecordBatch]:
        assert isinstance(params, GateParams)
        gate = Gate(params.gate)
        gate.note("yielded", "1\n")
        yield made_up_rows(0, params.before).select(columns)
        if params.hold:
            gate.hold()
        gate.note("yielded", "2\n")
        yield made_up_rows(params.before, params.after).select(columns)

    def arrow_schema(self, columns: list[str]) -> pa.Schema:
        return pa.schema([SCHEMA.field(name) for name in columns])


RESUME = {
    "profile": {"name": "Gate Keeper", "headline": "Waits", "email": "gate@example.com"},
    "work": [{"organisation": "Acme", "role": "Engineer", "start": "2020-01"}],
    "skills": ["Patience"],
}


class GatedResume(DocumentSource):
    def document(self, conn: Connection, owner_id: str, params: BaseModel) -> dict[str, Any]:
        assert isinstance(params, GateParams)
        Gate(params.gate).hold()
        return RESUME


def gated_sources() -> list[Source]:
    return [
        GatedRows(
            name="gated_rows",
            title="Rows behind a gate",
            kind="rows",
            params_model=GateParams,
            formats=("csv", "jsonl", "json", "parquet", "xlsx"),
            columns=COLUMNS,
        ),
        GatedResume(
            name="gated_resume",
            title="A resume behind a gate",
            kind="document",
            params_model=GateParams,
            formats=("pdf", "html"),
        ),
    ]

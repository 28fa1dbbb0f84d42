"""The demo sources over the demo tables."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, String, func, select, type_coerce

from exportd.demo.tables import demo_trades
from exportd.sources.base import ColumnSpec, Source, TabularSource


class TradeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date_from: date | None = Field(default=None, description="opened on or after")
    date_to: date | None = Field(default=None, description="opened on or before")
    symbol: str | None = Field(default=None, max_length=32)
    direction: Literal["long", "short"] | None = None
    status: Literal["open", "closed"] | None = None
    limit: int | None = Field(default=None, ge=1, le=100_000_000)


ARROW_TYPES = {
    "integer": pa.int64(),
    "number": pa.float64(),
    "string": pa.string(),
    "boolean": pa.bool_(),
    "datetime": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
}


class TradesSource(TabularSource):
    def __init__(self) -> None:
        super().__init__(
            name="trades",
            title="Trades",
            kind="rows",
            params_model=TradeParams,
            formats=("csv", "jsonl", "json", "xlsx", "parquet"),
            columns=(
                ColumnSpec("id", "integer", "Trade"),
                ColumnSpec("symbol", "string", "Symbol"),
                ColumnSpec("direction", "string", "Direction"),
                ColumnSpec("status", "string", "Status"),
                ColumnSpec("quantity", "number", "Quantity"),
                ColumnSpec("entry_price", "number", "Entry"),
                ColumnSpec("exit_price", "number", "Exit"),
                ColumnSpec("pnl", "number", "P&L"),
                ColumnSpec("opened_at", "datetime", "Opened"),
                ColumnSpec("closed_at", "datetime", "Closed"),
                ColumnSpec("notes", "string", "Notes"),
            ),
            column_presets={
                "summary": ("opened_at", "symbol", "direction", "pnl"),
                "accounting": ("id", "closed_at", "symbol", "quantity", "pnl"),
            },
        )

    def _where(self, owner_id: str, params: TradeParams) -> list[Any]:
        t = demo_trades.c
        clauses: list[Any] = [t.owner_id == owner_id]
        if params.date_from:
            clauses.append(t.opened_at >= datetime.combine(params.date_from, time(), UTC))
        if params.date_to:
            clauses.append(t.opened_at <= datetime.combine(params.date_to, time.max, UTC))
        for name in ("symbol", "direction", "status"):
            if getattr(params, name):
                clauses.append(demo_trades.c[name] == getattr(params, name))
        return clauses

    def count(self, conn: Connection, owner_id: str, params: BaseModel) -> int:
        assert isinstance(params, TradeParams)
        total = conn.execute(
            select(func.count()).where(*self._where(owner_id, params))
        ).scalar_one()
        return min(int(total), params.limit) if params.limit else int(total)

    def batches(
        self,
        conn: Connection,
        owner_id: str,
        params: BaseModel,
        columns: list[str],
        *,
        batch_size: int,
    ) -> Iterator[pa.RecordBatch]:
        assert isinstance(params, TradeParams)
        schema = self.arrow_schema(columns)
        # SQLite keeps timestamps as ISO text: fetch the text and parse whole columns in
        # Arrow, instead of building a Python datetime per cell.
        as_text = conn.dialect.name == "sqlite"
        selected = [
            type_coerce(demo_trades.c[name], String)
            if as_text and pa.types.is_timestamp(schema.field(name).type)
            else demo_trades.c[name]
            for name in columns
        ]
        query = (
            select(*selected)
            .where(*self._where(owner_id, params))
            .order_by(demo_trades.c.opened_at, demo_trades.c.id)
        )
        if params.limit:
            query = query.limit(params.limit)
        result = conn.execution_options(stream_results=True, yield_per=batch_size).execute(query)
        for rows in result.partitions(batch_size):
            arrays = [
                _column_array(values, schema.field(i).type, from_text=as_text)
                for i, values in enumerate(zip(*rows, strict=True))
            ]
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)

    def arrow_schema(self, columns: list[str]) -> pa.Schema:
        types = {c.name: c.type for c in self.columns}
        return pa.schema([(name, ARROW_TYPES[types[name]]) for name in columns])


def _column_array(values: tuple[Any, ...], arrow_type: pa.DataType, *, from_text: bool) -> pa.Array:
    if from_text and pa.types.is_timestamp(arrow_type):
        naive = pc.cast(pa.array(values, pa.string()), pa.timestamp(arrow_type.unit))
        return pc.assume_timezone(naive, arrow_type.tz or "UTC")
    return pa.array(values, type=arrow_type)


def demo_sources() -> list[Source]:
    return [TradesSource()]

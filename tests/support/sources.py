"""A fake tabular source for the API and service tests (the real ones live in exportd)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from exportd.sources import ColumnSpec, Source, SourceRegistry


class TradeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date_from: date | None = None
    date_to: date | None = None
    symbol: str | None = Field(default=None, max_length=32)
    direction: Literal["long", "short"] | None = None
    limit: int | None = Field(default=None, ge=1, le=1_000_000)


TRADES = Source(
    name="trades",
    title="Trades",
    kind="rows",
    params_model=TradeParams,
    formats=("csv", "jsonl", "json", "xlsx", "parquet"),
    columns=(
        ColumnSpec("id", "integer", "Trade id"),
        ColumnSpec("symbol", "string", "Symbol"),
        ColumnSpec("opened_at", "datetime", "Opened"),
        ColumnSpec("pnl", "number", "P&L"),
    ),
    column_presets={"summary": ("symbol", "pnl")},
)


class ResumeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    document_id: str | None = None


RESUME = Source(
    name="resume",
    title="Resume",
    kind="document",
    params_model=ResumeParams,
    formats=("pdf", "html"),
)


def fake_sources() -> SourceRegistry:
    return SourceRegistry([TRADES, RESUME])

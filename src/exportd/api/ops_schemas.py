"""The API's bodies for the operators' reports (``/v1/ops/export-ops``, ``/v1/ops/perf``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, create_model

from exportd.ops import reports

# The operators' reports: a count per counter of ``reports.COUNTERS``, in total and per
# source and format.
_COUNTS: dict[str, Any] = {name: (int, ...) for name in reports.COUNTERS}
SourceFormatOps = create_model("SourceFormatOps", source=(str, ...), format=(str, ...), **_COUNTS)
ExportOps = create_model(
    "ExportOps",
    since=(datetime, ...),
    by_source_format=(list[SourceFormatOps], ...),
    **_COUNTS,
)


class Percentiles(BaseModel):
    p50: float | None
    p95: float | None
    max: float | None


class PerfItem(BaseModel):
    source: str
    format: str
    count: int
    wait_ms: Percentiles = Field(description="queue wait: asked to started")
    run_ms: Percentiles
    size: Percentiles = Field(description="bytes")


class Perf(BaseModel):
    since: datetime
    items: list[PerfItem]

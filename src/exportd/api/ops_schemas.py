"""The API's bodies for operators: the reports (``/v1/ops/export-ops``, ``/v1/ops/perf``),
cleanup runs and queues."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, create_model

from exportd.ops import reports
from exportd.queue.control import QueueState

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


class CleanupOut(BaseModel):
    dry_run: bool
    expired_removed: int
    failed: int
    orphans_removed: int
    expired_export_ids: list[str]
    failed_export_ids: list[str]
    orphan_keys: list[str]


class QueueOut(BaseModel):
    name: str
    paused: bool = Field(description="claims skip a paused queue; its running jobs finish")
    paused_at: datetime | None
    paused_by: str | None = Field(description="the principal that paused it")
    queued: int = Field(description="jobs waiting in it")
    running: int = Field(description="jobs of it running now")

    @classmethod
    def of(cls, state: QueueState) -> QueueOut:
        return cls(
            name=state.name,
            paused=state.paused,
            paused_at=state.paused_at,
            paused_by=state.paused_by,
            queued=state.queued,
            running=state.running,
        )


class QueueList(BaseModel):
    items: list[QueueOut]

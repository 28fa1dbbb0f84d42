"""Values of the export domain: what is asked, what is shown, plan limits."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class ExportStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    # A schedule's run with ``skip_if_empty`` whose source had no rows: no file, no notice.
    SKIPPED = "skipped"

    @property
    def is_active(self) -> bool:
        return self in (ExportStatus.QUEUED, ExportStatus.RUNNING)


@dataclass(frozen=True, slots=True)
class ColumnChoice:
    """A chosen column, in order, optionally renamed."""

    name: str
    label: str | None = None

    def as_dict(self) -> dict[str, str]:
        # Only a rename is stored: the header of a column not renamed is the format's
        # default (see exports.task.output_columns).
        return {"name": self.name, "label": self.label} if self.label else {"name": self.name}


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportRequest:
    source: str
    format: str
    params: dict[str, Any]
    columns: tuple[ColumnChoice, ...] | None = None
    column_preset: str | None = None
    template: str | None = None
    notify: dict[str, Any] | None = None
    options: dict[str, Any] | None = None
    destinations: tuple[str, ...] | None = None  # ids of the owner's destinations


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanLimits:
    name: str
    max_active_jobs: int
    max_batch_size: int
    storage_quota_bytes: int
    daily_export_bytes: int
    max_rows: int
    retention_days: int
    formats_allowed: tuple[str, ...]
    watermark: bool
    max_schedules: int = 5
    min_schedule_interval_s: int = 3600
    # An owner's exports running at once, across workers (None: only the workers limit).
    max_running: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportView:
    """An export as its owner sees it: status merged from the export and its job."""

    id: str
    owner_id: str
    plan: str
    source: str
    format: str
    params: dict[str, Any]
    columns: list[dict[str, str]] | None
    template: str | None
    notify: dict[str, Any] | None
    options: dict[str, Any] | None
    status: ExportStatus
    progress: dict[str, Any]
    error: dict[str, Any] | None
    result: dict[str, Any] | None
    correlation_id: str | None
    retries: int
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime | None
    download_count: int = 0
    last_downloaded_at: datetime | None = None
    attempts: int = 0  # of the current run, the running one included
    max_attempts: int | None = None
    last_attempt_error: dict[str, Any] | None = None  # while a retry is due
    next_attempt_at: datetime | None = None
    schedule_id: str | None = None
    # Each destination asked for, in order: its id and its delivery's status (pending,
    # sent, failed, skipped when the export did not complete), error and remote key.
    destinations: list[dict[str, Any]] | None = None


@dataclass(frozen=True, slots=True)
class Page:
    items: list[ExportView]
    next_cursor: str | None
    stats: dict[str, int] | None = None

"""Values of the schedules domain: what an owner asks for, and a schedule as shown."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from exportd.exports.models import ExportRequest


class PausedReason(enum.StrEnum):
    OWNER = "owner"  # paused by its owner (active: false)
    FAILURES = "failures"  # paused itself after EXPORTD_SCHEDULE_MAX_FAILURES failed runs


class RunOutcome(enum.StrEnum):
    QUEUED = "queued"  # an export was made
    REFUSED = "refused"  # the export was refused when asked for (its error is kept)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleSpec:
    """A new schedule: the export to make and when; exactly one of ``cron``, ``every``."""

    request: ExportRequest
    cron: str | None = None
    every: str | None = None
    timezone: str = "UTC"
    skip_if_empty: bool = False
    active: bool = True
    name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleChange:
    """A change: only what ``fields`` names changes.  Naming ``cron`` or ``every``
    replaces the timing (the other is dropped)."""

    fields: frozenset[str]
    request: ExportRequest | None = None
    cron: str | None = None
    every: str | None = None
    timezone: str | None = None
    skip_if_empty: bool | None = None
    active: bool | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleView:
    id: str
    owner_id: str
    name: str | None
    request: dict[str, Any]
    cron: str | None
    every: str | None
    timezone: str
    skip_if_empty: bool
    active: bool
    paused_reason: PausedReason | None
    paused_at: datetime | None
    consecutive_failures: int
    last_error: dict[str, Any] | None
    next_run_at: datetime | None
    last_due_at: datetime | None
    last_run_at: datetime | None
    last_export_id: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def status(self) -> str:
        return "active" if self.active else "paused"

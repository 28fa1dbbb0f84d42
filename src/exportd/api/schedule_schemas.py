"""Request and response bodies of ``/v1/schedules`` (Pydantic), and their mapping to the
schedules domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from exportd.api.schemas import ExportCreate
from exportd.schedules.models import ScheduleChange, ScheduleSpec, ScheduleView

CRON = Field(
    default=None,
    min_length=1,
    max_length=120,
    description="five cron fields (minute hour day month weekday) read on the wall clock "
    "of `timezone`: `0 6 * * 1` is Mondays at 06:00. Give `cron` or `every`, not both",
    examples=["0 6 * * 1"],
)
EVERY = Field(
    default=None,
    min_length=2,
    max_length=16,
    description="a fixed interval of elapsed time from the schedule's creation: a number "
    "and s, m, h, d or w (`1h`, `1d`, `7d`). Give `cron` or `every`, not both",
    examples=["1d"],
)
TIMEZONE = "an IANA time zone for `cron` (DST rules: docs/schedules.md)"


class ScheduleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    export: ExportCreate = Field(description="the body of `POST /v1/exports`, made at each run")
    cron: str | None = CRON
    every: str | None = EVERY
    timezone: str = Field(default="UTC", min_length=1, max_length=64, description=TIMEZONE)
    skip_if_empty: StrictBool = Field(
        default=False,
        description="a run whose source has no rows ends `skipped`: no file, no notification",
    )
    active: StrictBool = Field(default=True, description="false: created paused")
    name: str | None = Field(default=None, min_length=1, max_length=200)

    def to_domain(self) -> ScheduleSpec:
        return ScheduleSpec(
            request=self.export.to_domain(),
            cron=self.cron,
            every=self.every,
            timezone=self.timezone,
            skip_if_empty=self.skip_if_empty,
            active=self.active,
            name=self.name,
        )


class ScheduleUpdate(BaseModel):
    """Only what is sent changes. Sending `cron` or `every` replaces the timing; `active:
    false` pauses, `active: true` resumes (from now, with the failure count reset)."""

    model_config = ConfigDict(extra="forbid")

    export: ExportCreate | None = None
    cron: str | None = CRON
    every: str | None = EVERY
    timezone: str | None = Field(default=None, min_length=1, max_length=64, description=TIMEZONE)
    skip_if_empty: StrictBool | None = None
    active: StrictBool | None = None
    name: str | None = Field(default=None, min_length=1, max_length=200)

    def to_domain(self) -> ScheduleChange:
        return ScheduleChange(
            fields=frozenset(self.model_fields_set),
            request=self.export.to_domain() if self.export is not None else None,
            cron=self.cron,
            every=self.every,
            timezone=self.timezone,
            skip_if_empty=self.skip_if_empty,
            active=self.active,
            name=self.name,
        )


class RunError(BaseModel):
    code: str
    message: str


class ScheduleLinks(BaseModel):
    self: str
    runs: str = Field(description="its exports: `GET /v1/exports?schedule_id=…`")
    run: str = Field(description="`POST` here to run it now")


class ScheduleOut(BaseModel):
    id: str
    name: str | None
    export: dict[str, Any] = Field(description="the export each run asks for, as sent")
    cron: str | None
    every: str | None
    timezone: str
    skip_if_empty: bool
    active: bool
    status: Literal["active", "paused"]
    paused_reason: Literal["owner", "failures"] | None = Field(
        description="`owner`: paused by `active: false`; `failures`: paused itself after "
        "`EXPORTD_SCHEDULE_MAX_FAILURES` failed runs in a row"
    )
    paused_at: datetime | None
    consecutive_failures: int
    last_error: RunError | None = Field(description="the last failed or refused run's error")
    next_run_at: datetime | None = Field(description="when it runs next (null while paused)")
    last_due_at: datetime | None
    last_run_at: datetime | None
    last_export_id: str | None
    links: ScheduleLinks
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, view: ScheduleView) -> ScheduleOut:
        base = f"/v1/schedules/{view.id}"
        return cls(
            id=view.id,
            name=view.name,
            export=view.request,
            cron=view.cron,
            every=view.every,
            timezone=view.timezone,
            skip_if_empty=view.skip_if_empty,
            active=view.active,
            status="active" if view.active else "paused",
            paused_reason=view.paused_reason.value if view.paused_reason else None,
            paused_at=view.paused_at,
            consecutive_failures=view.consecutive_failures,
            last_error=RunError(**view.last_error) if view.last_error else None,
            next_run_at=view.next_run_at,
            last_due_at=view.last_due_at,
            last_run_at=view.last_run_at,
            last_export_id=view.last_export_id,
            links=ScheduleLinks(
                self=base, runs=f"/v1/exports?schedule_id={view.id}", run=f"{base}/run"
            ),
            created_at=view.created_at,
            updated_at=view.updated_at,
        )


class ScheduleList(BaseModel):
    items: list[ScheduleOut]

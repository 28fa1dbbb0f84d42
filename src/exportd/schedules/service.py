"""The schedule service: what an owner does with schedules, and no HTTP.

A schedule is its owner's alone: anyone else — admins included — is told "not found".
Each write runs in one transaction under the owner's lock, so the count of an owner's
schedules cannot race past the plan's limit.  The export a schedule keeps is checked as
``POST /v1/exports`` checks one (same codes, fields named ``export.…``), except for the
limits that change with time (active exports, quotas): each run meets those.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update

from exportd.auth.principal import Principal
from exportd.clock import Clock, SystemClock
from exportd.config import Settings
from exportd.db import Database
from exportd.db.locks import lock_for_transaction
from exportd.db.tables import schedule_runs, schedules
from exportd.errors import NotFound, RequestInvalid
from exportd.exports.models import ExportRequest, ExportView, PlanLimits
from exportd.exports.plans import plan_for
from exportd.exports.service import ExportService
from exportd.schedules import runs
from exportd.schedules.models import (
    PausedReason,
    ScheduleChange,
    ScheduleSpec,
    ScheduleView,
)
from exportd.schedules.recurrence import (
    Recurrence,
    check_cron,
    check_timezone,
    next_due,
    parse_every,
    shortest_gap_s,
)
from exportd.schedules.requests import from_json, to_json
from exportd.schedules.ticker import recurrence_of


class ScheduleService:
    def __init__(
        self,
        *,
        db: Database,
        exports: ExportService,
        settings: Settings,
        clock: Clock | None = None,
    ) -> None:
        self.db = db
        self.exports = exports
        self.settings = settings
        self.clock = clock or SystemClock()

    # -- read --------------------------------------------------------------------------

    def list_schedules(self, principal: Principal) -> list[ScheduleView]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(schedules)
                .where(schedules.c.owner_id == principal.user_id)
                .order_by(schedules.c.created_at.desc(), schedules.c.id.desc())
            ).all()
        return [view_of(row) for row in rows]

    def get(self, principal: Principal, schedule_id: str) -> ScheduleView:
        with self.db.read() as conn:
            return view_of(_owned(conn, principal, schedule_id))

    # -- write -------------------------------------------------------------------------

    def create(self, principal: Principal, spec: ScheduleSpec) -> ScheduleView:
        cron, every = _timing(spec.cron, spec.every)
        timezone = check_timezone(spec.timezone)
        request = self._checked(principal, spec.request, spec.skip_if_empty)
        now = self.clock.now()
        recurrence = Recurrence(timezone, now, cron=cron, every_s=_seconds(every))
        schedule_id = uuid.uuid4().hex
        with self.db.write() as conn:
            lock_for_transaction(conn, f"owner:{principal.user_id}")
            plan = plan_for(conn, principal.plan)
            self._check_room(conn, principal.user_id, plan)
            self._check_interval(recurrence, plan, now)
            conn.execute(
                insert(schedules).values(
                    id=schedule_id,
                    owner_id=principal.user_id,
                    plan=principal.plan,
                    owner_email=principal.email,
                    name=spec.name,
                    request=request,
                    cron=cron,
                    every=every,
                    timezone=timezone,
                    anchor_at=now,
                    skip_if_empty=spec.skip_if_empty,
                    active=spec.active,
                    paused_reason=None if spec.active else PausedReason.OWNER.value,
                    paused_at=None if spec.active else now,
                    next_due_at=next_due(recurrence, now),
                    created_at=now,
                    updated_at=now,
                )
            )
            return view_of(_owned(conn, principal, schedule_id))

    def update(
        self, principal: Principal, schedule_id: str, change: ScheduleChange
    ) -> ScheduleView:
        """Change what ``change.fields`` names; the owner's plan and email are taken
        afresh from the caller.  Resuming starts from now: no catch-up for a pause."""
        given = change.fields
        timing = _timing(change.cron, change.every) if given & {"cron", "every"} else None
        timezone = check_timezone(change.timezone) if change.timezone is not None else None
        checked = self._checked_change(principal, schedule_id, change)
        now = self.clock.now()
        with self.db.write() as conn:
            lock_for_transaction(conn, f"owner:{principal.user_id}")
            row = _owned(conn, principal, schedule_id)
            values: dict[str, Any] = {
                "plan": principal.plan,
                "owner_email": principal.email,
                "updated_at": now,
            }
            if checked is not None:
                values.update(request=checked[0], skip_if_empty=checked[1])
            if "name" in given:
                values["name"] = change.name
            if timing is not None:
                values.update(cron=timing[0], every=timing[1], anchor_at=now)
            if timezone is not None:
                values["timezone"] = timezone
            values.update(self._activity(row, change.active, now))
            recurrence = recurrence_of({**row._mapping, **values})
            if timing is not None or timezone is not None:
                self._check_interval(recurrence, plan_for(conn, principal.plan), now)
            if timing is not None or timezone is not None or "active" in values:
                values["next_due_at"] = next_due(recurrence, now)
            conn.execute(update(schedules).where(schedules.c.id == row.id).values(values))
            return view_of(_owned(conn, principal, schedule_id))

    def _checked_change(
        self, principal: Principal, schedule_id: str, change: ScheduleChange
    ) -> tuple[dict[str, Any], bool] | None:
        """The request and skip_if_empty a change leaves, checked (before the write: the
        check reads on a connection of its own); None when it touches neither."""
        if change.request is None and change.skip_if_empty is None:
            return None
        current = self.get(principal, schedule_id)
        skip = current.skip_if_empty if change.skip_if_empty is None else change.skip_if_empty
        request = change.request or from_json(current.request)
        return self._checked(principal, request, skip), skip

    def delete(self, principal: Principal, schedule_id: str) -> None:
        """The schedule and its runs' rows go; its exports stay, with their schedule_id."""
        with self.db.write() as conn:
            lock_for_transaction(conn, f"owner:{principal.user_id}")
            row = _owned(conn, principal, schedule_id)
            conn.execute(delete(schedule_runs).where(schedule_runs.c.schedule_id == row.id))
            conn.execute(delete(schedules).where(schedules.c.id == row.id))

    def run_now(self, principal: Principal, schedule_id: str) -> tuple[ExportView, ScheduleView]:
        """One run at once, as the schedule would make it (paused or not); a refusal is
        the caller's answer (the same codes as ``POST /v1/exports``), not a failure."""
        now = self.clock.now()
        with self.db.write() as conn:
            lock_for_transaction(conn, f"owner:{principal.user_id}")
            row = _owned(conn, principal, schedule_id)
            export_id = runs.start(conn, self.exports, row)
            runs.record_run(conn, row, None, now=now, export_id=export_id)
            conn.execute(
                update(schedules)
                .where(schedules.c.id == row.id)
                .values(last_run_at=now, last_export_id=export_id, updated_at=now)
            )
            schedule = view_of(_owned(conn, principal, schedule_id))
        return self.exports.get(principal, export_id), schedule

    # -- rules -------------------------------------------------------------------------

    def _checked(
        self, principal: Principal, request: ExportRequest, skip_if_empty: bool
    ) -> dict[str, Any]:
        """The request as kept, if an export of it could be made (its faults named as
        ``export.…`` fields)."""
        source = self.exports.sources.get(request.source)
        if skip_if_empty and source is not None and source.kind == "document":
            raise RequestInvalid(
                f"{source.name} makes a document, which is never empty",
                code="skip_if_empty_not_applicable",
                errors=[{"field": "skip_if_empty", "message": "only for sources of rows"}],
            )
        try:
            self.exports.check_request(principal, request)
        except RequestInvalid as exc:
            raise RequestInvalid(
                exc.message,
                code=exc.code,
                errors=[{**e, "field": f"export.{e['field']}"} for e in exc.errors],
            ) from None
        return to_json(request)

    def _check_room(self, conn: Connection, owner_id: str, plan: PlanLimits) -> None:
        count = conn.execute(
            select(func.count()).where(schedules.c.owner_id == owner_id)
        ).scalar_one()
        if count >= plan.max_schedules:
            raise RequestInvalid(
                f"the {plan.name} plan allows {plan.max_schedules} schedules and you have "
                f"{count}; delete one first",
                code="schedule_limit_reached",
            )

    def _check_interval(self, recurrence: Recurrence, plan: PlanLimits, now: datetime) -> None:
        least = max(plan.min_schedule_interval_s, self.settings.schedule_min_interval_s)
        gap = shortest_gap_s(recurrence, now)
        if gap < least:
            field = "cron" if recurrence.cron else "every"
            raise RequestInvalid(
                f"runs {gap:.0f} s apart at the closest; the {plan.name} plan allows one "
                f"every {least} s at most",
                code="schedule_interval_too_short",
                errors=[{"field": field, "message": f"at least {least} s between runs"}],
            )

    def _activity(self, row: Row[Any], active: bool | None, now: datetime) -> dict[str, Any]:
        if active is None or active == row.active:
            return {}
        if active:
            return {
                "active": True,
                "paused_reason": None,
                "paused_at": None,
                "consecutive_failures": 0,
            }
        return {"active": False, "paused_reason": PausedReason.OWNER.value, "paused_at": now}


def _timing(cron: str | None, every: str | None) -> tuple[str | None, str | None]:
    if (cron is None) == (every is None):
        raise RequestInvalid(
            "give exactly one of cron and every",
            code="schedule_timing_invalid",
            errors=[{"field": "cron", "message": "cron or every, not both and not neither"}],
        )
    if cron is not None:
        return check_cron(cron), None
    assert every is not None
    parse_every(every)
    return None, every.strip()


def _seconds(every: str | None) -> int | None:
    return parse_every(every) if every is not None else None


def _owned(conn: Connection, principal: Principal, schedule_id: str) -> Row[Any]:
    row = conn.execute(select(schedules).where(schedules.c.id == schedule_id)).first()
    if row is None or row.owner_id != principal.user_id:
        raise NotFound(f"no schedule {schedule_id}", code="schedule_not_found")
    return row


def view_of(row: Row[Any]) -> ScheduleView:
    return ScheduleView(
        id=row.id,
        owner_id=row.owner_id,
        name=row.name,
        request=row.request,
        cron=row.cron,
        every=row.every,
        timezone=row.timezone,
        skip_if_empty=row.skip_if_empty,
        active=row.active,
        paused_reason=PausedReason(row.paused_reason) if row.paused_reason else None,
        paused_at=row.paused_at,
        consecutive_failures=row.consecutive_failures,
        last_error=row.last_error,
        next_run_at=row.next_due_at if row.active else None,
        last_due_at=row.last_due_at,
        last_run_at=row.last_run_at,
        last_export_id=row.last_export_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )

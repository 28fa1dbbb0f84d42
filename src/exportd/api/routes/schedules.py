"""/v1/schedules: recurring exports — create, list, read, change, delete, run now."""

from __future__ import annotations

from fastapi import Response, status

from exportd.api.deps import ReadExports, Schedules, WriteExports
from exportd.api.routers import api_router
from exportd.api.schedule_schemas import ScheduleCreate, ScheduleList, ScheduleOut, ScheduleUpdate
from exportd.api.schemas import ExportOut

router = api_router(prefix="/v1/schedules", tags=["schedules"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ScheduleOut)
def create_schedule(
    body: ScheduleCreate, principal: WriteExports, schedules: Schedules, response: Response
) -> ScheduleOut:
    """A recurring export: `export` (the body of `POST /v1/exports`) made at each due time
    of `cron` (in `timezone`) or `every`."""
    view = schedules.create(principal, body.to_domain())
    response.headers["Location"] = f"/v1/schedules/{view.id}"
    return ScheduleOut.of(view)


@router.get("", response_model=ScheduleList)
def list_schedules(principal: ReadExports, schedules: Schedules) -> ScheduleList:
    """The caller's schedules, newest first."""
    return ScheduleList(items=[ScheduleOut.of(v) for v in schedules.list_schedules(principal)])


@router.get("/{schedule_id}", response_model=ScheduleOut)
def get_schedule(schedule_id: str, principal: ReadExports, schedules: Schedules) -> ScheduleOut:
    """One schedule: its export, timing, status, next run and last run."""
    return ScheduleOut.of(schedules.get(principal, schedule_id))


@router.patch("/{schedule_id}", response_model=ScheduleOut)
def update_schedule(
    schedule_id: str, body: ScheduleUpdate, principal: WriteExports, schedules: Schedules
) -> ScheduleOut:
    """Change what is sent; `active: false` pauses, `active: true` resumes."""
    return ScheduleOut.of(schedules.update(principal, schedule_id, body.to_domain()))


@router.delete("/{schedule_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_schedule(schedule_id: str, principal: WriteExports, schedules: Schedules) -> Response:
    """Delete the schedule; the exports it made stay."""
    schedules.delete(principal, schedule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{schedule_id}/run", status_code=status.HTTP_202_ACCEPTED, response_model=ExportOut)
def run_schedule(schedule_id: str, principal: WriteExports, schedules: Schedules) -> ExportOut:
    """Run it now (paused or not): the export it makes, as `POST /v1/exports` answers."""
    export, _schedule = schedules.run_now(principal, schedule_id)
    return ExportOut.of(export)

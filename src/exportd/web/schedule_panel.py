"""The page's schedules: the panel, and making one from the create form ("Repeat it").

Each action answers with the whole panel (and a notice); the rules are the schedule
service's, as for the API.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from exportd.api.routers import api_router
from exportd.schedules.models import ScheduleChange, ScheduleSpec
from exportd.schedules.service import ScheduleService
from exportd.web.routes import Page, _act, _request_from
from exportd.web.templating import render

router = api_router(prefix="/exports/schedules", include_in_schema=False)


def _service(p: Page) -> ScheduleService:
    service: ScheduleService = p.request.app.state.schedules
    return service


def schedules_html(p: Page) -> str:
    return render("_schedules.html", schedules=_service(p).list_schedules(p.principal))


def _ok(p: Page, message: str) -> str:
    return schedules_html(p) + render(
        "_notice.html", kind="ok", message=message, fields=[], oob=True
    )


@router.post("/new", response_class=HTMLResponse)
async def create(request: Request) -> HTMLResponse:
    form = await request.form()
    return await run_in_threadpool(_create, request, form)


def _create(request: Request, form: FormData) -> HTMLResponse:
    def act(p: Page) -> str:
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        cron = fields.get("repeat_cron", "").strip() or None
        spec = ScheduleSpec(
            request=_request_from(p, fields, form.getlist("col")),
            cron=cron,
            every=None if cron else fields.get("repeat_every") or None,
            timezone=fields.get("repeat_timezone", "").strip() or "UTC",
            skip_if_empty=fields.get("skip_if_empty") == "true",
        )
        made = _service(p).create(p.principal, spec)
        return _ok(
            p,
            f"Scheduled {made.request['source']}: next run {made.next_run_at:%Y-%m-%d %H:%M} UTC.",
        )

    return _act(request, act)


def _action(request: Request, schedule_id: str, what: str) -> HTMLResponse:
    def act(p: Page) -> str:
        service = _service(p)
        if what == "run":
            export, _ = service.run_now(p.principal, schedule_id)
            return _ok(p, f"Queued {export.source} as {export.format.upper()}.")
        if what == "delete":
            service.delete(p.principal, schedule_id)
            return _ok(p, "Schedule deleted; its exports stay.")
        change = ScheduleChange(fields=frozenset({"active"}), active=what == "resume")
        service.update(p.principal, schedule_id, change)
        return _ok(p, "Resumed." if what == "resume" else "Paused.")

    return _act(request, act)


@router.post("/{schedule_id}/run", response_class=HTMLResponse)
def run(request: Request, schedule_id: str) -> HTMLResponse:
    return _action(request, schedule_id, "run")


@router.post("/{schedule_id}/pause", response_class=HTMLResponse)
def pause(request: Request, schedule_id: str) -> HTMLResponse:
    return _action(request, schedule_id, "pause")


@router.post("/{schedule_id}/resume", response_class=HTMLResponse)
def resume(request: Request, schedule_id: str) -> HTMLResponse:
    return _action(request, schedule_id, "resume")


@router.post("/{schedule_id}/delete", response_class=HTMLResponse)
def delete(request: Request, schedule_id: str) -> HTMLResponse:
    return _action(request, schedule_id, "delete")

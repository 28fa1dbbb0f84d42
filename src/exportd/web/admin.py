"""The operator's console, /exports/admin: the queue, the workers, the last day in charts,
the dead letters with their bulk actions, and what tenants use of their plans.

Server-rendered, no script needed: the filter is a GET form, a bulk action (or pausing
a queue) a POST form with the page's CSRF token that answers with a redirect back.  Admins
only (a signed-in user gets 403; nobody signed in is sent to sign in).  The routes call
the services the API's /v1/ops/console routes call.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from exportd.api.routers import api_router
from exportd.errors import ExportdError, Forbidden, RequestInvalid
from exportd.ops.console import Activity, Console
from exportd.ops.dead_letters import Action, DeadLetterFilter, DeadLetters, Kind
from exportd.ops.queues import QueueOps
from exportd.web import charts
from exportd.web.messages import notice_text
from exportd.web.routes import Page, page
from exportd.web.templating import templates
from exportd.web.views import human_bytes

router = api_router(prefix="/exports/admin", include_in_schema=False)

SHOWN = 50  # dead letters listed; a bulk action takes every match
FILTER_FIELDS = ("owner", "source", "format", "code", "since", "until")
Field = Annotated[str, Query(max_length=255)]
DASH = "\u2013"  # what a cell with no value shows


def _admin(request: Request) -> Page | Response:
    """The signed-in admin's page, or the 403 page for anyone else signed in."""
    p = page(request)  # nobody signed in: SignInRequired sends them to sign in
    if p.principal.is_admin:
        return p
    return templates.TemplateResponse(
        request,
        "forbidden.html",
        {"message": "The operator's console is for admins.", "code": "admin_required"},
        status_code=403,
        headers={"Cache-Control": "no-store"},
    )


@router.get("", response_class=HTMLResponse)
def console_page(
    request: Request,
    kind: Annotated[str, Query(max_length=16)] = Kind.EXPORTS.value,
    owner: Field = "",
    source: Field = "",
    format: Field = "",
    code: Field = "",
    since: Field = "",
    until: Field = "",
    done: Annotated[str, Query(max_length=16)] = "",
    changed: Annotated[int, Query(ge=0)] = 0,
    skipped: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    p = _admin(request)
    if not isinstance(p, Page):
        return p
    given = {"owner": owner, "source": source, "format": format, "code": code}
    asked = {**given, "since": since, "until": until}
    chosen = Kind(kind) if kind in Kind.__members__.values() else Kind.EXPORTS
    notice = _done_notice(done, chosen, changed, skipped)
    letters: DeadLetters = request.app.state.dead_letters
    try:
        found = letters.search(chosen, _filter(asked), limit=SHOWN)
    except ExportdError as exc:
        found, notice = None, (notice_text(exc.code, exc.message), "error", exc.code)
    console: Console = request.app.state.console
    context = {
        "principal": p.principal,
        "csrf": p.csrf,
        "overview": console.overview(),
        "activity": _activity(console.activity()),
        "tenants": console.tenants(),
        "admin_events": console.admin_events(limit=10),
        "queue_states": _queues(request).list(),
        "kind": chosen.value,
        "kinds": [k.value for k in Kind],
        "asked": asked,
        "found": found,
        "notice": notice,
        **_choices(request),
    }
    return templates.TemplateResponse(
        request, "admin.html", context, headers={"Cache-Control": "no-store"}
    )


@router.post("/dead-letters")
def act_on_dead_letters(
    request: Request,
    csrf: Annotated[str, Form(max_length=64)] = "",
    action: Annotated[str, Form(max_length=16)] = "",
    kind: Annotated[str, Form(max_length=16)] = "",
    owner: Annotated[str, Form(max_length=255)] = "",
    source: Annotated[str, Form(max_length=255)] = "",
    format: Annotated[str, Form(max_length=255)] = "",
    code: Annotated[str, Form(max_length=255)] = "",
    since: Annotated[str, Form(max_length=64)] = "",
    until: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Retry or cancel every dead letter the search matched; back to the same search."""
    p = _admin(request)
    if not isinstance(p, Page):
        return p
    asked = {
        "owner": owner,
        "source": source,
        "format": format,
        "code": code,
        "since": since,
        "until": until,
    }
    back: dict[str, str | int] = {
        "kind": kind,
        **{name: value for name, value in asked.items() if value},
    }
    try:
        p.check_csrf(csrf)
        if kind not in Kind.__members__.values() or action not in Action.__members__.values():
            raise RequestInvalid("choose exports or deliveries, and retry or cancel")
        letters: DeadLetters = request.app.state.dead_letters
        result = letters.act(Kind(kind), Action(action), _filter(asked), by=p.principal)
    except Forbidden as exc:
        return _refused(request, exc)
    except ExportdError as exc:
        return _refused(request, exc, status=422)
    back |= {"done": action, "changed": result.changed, "skipped": result.skipped}
    return RedirectResponse(f"/exports/admin?{urlencode(back)}#dead-letters", status_code=303)


@router.post("/queues/{name}/{action}")
def pause_or_resume_queue(
    request: Request,
    name: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[\w.:-]+$")],
    action: Annotated[str, Path(pattern="^(pause|resume)$")],
    csrf: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Stop new claims on a queue, or let them go on; back to the queues."""
    p = _admin(request)
    if not isinstance(p, Page):
        return p
    try:
        p.check_csrf(csrf)
        queues = _queues(request)
        if action == "pause":
            queues.pause(name, by=p.principal.user_id)
        else:
            queues.resume(name, by=p.principal.user_id)
    except Forbidden as exc:
        return _refused(request, exc)
    except ExportdError as exc:
        return _refused(request, exc, status=404 if exc.code == "queue_unknown" else 422)
    return RedirectResponse("/exports/admin#queues", status_code=303)


def _queues(request: Request) -> QueueOps:
    queues: QueueOps = request.app.state.queues
    return queues


def _choices(request: Request) -> dict[str, list[str]]:
    described = [source.describe() for source in request.app.state.sources.all()]
    return {
        "sources": [s["name"] for s in described],
        "formats": sorted({f for s in described for f in s["formats"]}),
    }


def _refused(request: Request, exc: ExportdError, *, status: int = 403) -> Response:
    return templates.TemplateResponse(
        request,
        "forbidden.html",
        {"message": notice_text(exc.code, exc.message), "code": exc.code},
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


def _filter(asked: dict[str, str]) -> DeadLetterFilter:
    """The form's fields as a filter: blanks mean any; times are UTC (the form says so)."""
    values: dict[str, Any] = {}
    for name in FILTER_FIELDS:
        text = asked.get(name, "").strip()
        if not text:
            continue
        if name in ("since", "until"):
            try:
                values[name] = datetime.fromisoformat(text)
            except ValueError:
                raise RequestInvalid(
                    f"{name} is not a date and time", code="datetime_out_of_range"
                ) from None
        else:
            values[name] = text
    return DeadLetterFilter(**values)


def _done_notice(done: str, kind: Kind, changed: int, skipped: int) -> tuple[str, str, str] | None:
    if done not in Action.__members__.values():
        return None
    verb = "Retried" if done == Action.RETRY.value else "Cancelled"
    noun = kind.value if changed != 1 else kind.value.removesuffix("s")
    text = f"{verb} {changed:,} {noun}."
    if skipped:
        text += f" {skipped:,} were no longer dead letters when their turn came."
    return text, "ok", ""


# -- the day in charts ------------------------------------------------------------------


def _count(value: float) -> str:
    return f"{round(value):,}"


def _duration(value: float) -> str:
    if value >= 60_000:
        return f"{value / 60_000:.1f} min"
    return f"{value / 1000:.1f} s" if value >= 1000 else f"{round(value)} ms"


def _percent(value: float) -> str:
    return f"{value:.0%}"


def _or_dash(fmt: Callable[[float], str], value: float | None) -> str:
    return DASH if value is None else fmt(value)


def _activity(activity: Activity) -> dict[str, Any]:
    """The three charts, and the numbers they draw."""
    labels = [hour.start.strftime("%H:00") for hour in activity.hours]
    hours = activity.hours
    done = charts.Series("Completed", [h.completed for h in hours], "series-a")
    p50 = charts.Series("p50", [h.p50_ms for h in hours], "series-a")
    p95 = charts.Series("p95", [h.p95_ms for h in hours], "series-b")
    ratio = charts.Series("Failed share", [h.failure_ratio for h in hours], "series-bad")
    return {
        "summary": activity,
        "figures": {
            "p50": _or_dash(_duration, activity.p50_ms),
            "p95": _or_dash(_duration, activity.p95_ms),
            "ratio": _or_dash(_percent, activity.failure_ratio),
        },
        "charts": [
            charts.bars("throughput", "Exports completed per hour (UTC)", labels, done, _count),
            charts.lines("latency", "Latency per hour, p50 and p95", labels, [p50, p95], _duration),
            charts.lines(
                "failures", "Share of exports failed per hour", labels, [ratio], _percent, top=1.0
            ),
        ],
        "rows": [
            {
                "hour": label,
                "completed": h.completed,
                "failed": h.failed,
                "p50": _or_dash(_duration, h.p50_ms),
                "p95": _or_dash(_duration, h.p95_ms),
                "ratio": _or_dash(_percent, h.failure_ratio),
            }
            for label, h in zip(labels, hours, strict=True)
        ],
    }


templates.env.filters["duration_s"] = lambda s: _duration(s * 1000)
templates.env.filters["bytes_or_dash"] = lambda v: DASH if v is None else human_bytes(v)

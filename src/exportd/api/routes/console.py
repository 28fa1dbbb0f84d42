"""The operator's console as JSON: the same reads as the /exports/admin page
(``ops:read`` or admin) and the bulk actions on dead letters (admin only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Query, Request

from exportd.api.console_schemas import DeadLetterFilterIn, TenantOut, filter_of
from exportd.api.deps import Admin, ReadOps
from exportd.api.routers import api_router
from exportd.ops.console import Activity, AdminEvent, Console, Overview
from exportd.ops.dead_letters import Action, BulkResult, DeadLetterPage, DeadLetters, Kind

router = api_router(prefix="/v1/ops/console", tags=["ops"])

Text = Annotated[str | None, Query(max_length=255)]


def _console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def _letters(request: Request) -> DeadLetters:
    letters: DeadLetters = request.app.state.dead_letters
    return letters


@router.get("/overview", response_model=Overview)
def get_console_overview(_reader: ReadOps, request: Request) -> Overview:
    """Jobs per queue and state, the queued job that has waited longest, and the workers
    that have not signed off with the jobs they run and their memory (as of each one's
    last heartbeat; ``stale``: none for two leases)."""
    return _console(request).overview()


@router.get("/activity", response_model=Activity)
def get_console_activity(
    _reader: ReadOps,
    request: Request,
    hours: Annotated[int, Query(ge=1, le=168, description="the window, in hours")] = 24,
) -> Activity:
    """Exports completed and failed per hour, the failure ratio, and the p50/p95 latency
    (queued to done, in ms) of those completed, from the event log."""
    return _console(request).activity(hours=hours)


@router.get("/tenants", response_model=list[TenantOut])
def list_console_tenants(
    _reader: ReadOps, request: Request, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[TenantOut]:
    """The tenants that exported last, each with what it uses of its plan."""
    return [TenantOut.of(tenant) for tenant in _console(request).tenants(limit=limit)]


@router.get("/admin-events", response_model=list[AdminEvent])
def list_console_admin_events(
    _reader: ReadOps, request: Request, limit: Annotated[int, Query(ge=1, le=200)] = 20
) -> list[AdminEvent]:
    """Operators' actions from the event log, newest first (who, what, how many)."""
    return _console(request).admin_events(limit=limit)


@router.get("/dead-letters/{kind}", response_model=DeadLetterPage)
def list_dead_letters(
    kind: Kind,
    _reader: ReadOps,
    request: Request,
    owner: Text = None,
    source: Text = None,
    format: Text = None,
    code: Text = None,
    since: Annotated[datetime | None, Query(description="died at or after")] = None,
    until: Annotated[datetime | None, Query(description="died before")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeadLetterPage:
    """Exports or deliveries that ran out of attempts: how many match, and the newest.
    A delivery's address is not shown here (an ``ops:read`` key is not its owner)."""
    wanted = filter_of(
        owner=owner, source=source, format=format, code=code, since=since, until=until
    )
    return _letters(request).search(kind, wanted, limit=limit)


@router.post("/dead-letters/{kind}/{action}", response_model=BulkResult)
def act_on_dead_letters(
    kind: Kind, action: Action, principal: Admin, request: Request, body: DeadLetterFilterIn
) -> BulkResult:
    """Retry or cancel **every** dead letter that matches, in batches (an empty filter
    matches all of the kind).  Retried ones are queued again with a fresh attempt budget
    (no cooldown, no active-export limit); cancelled ones leave the dead letters for good.
    One ``admin_action`` event records who did it, the filter and the count."""
    return _letters(request).act(kind, action, body.to_domain(), by=principal)

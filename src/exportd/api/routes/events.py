"""GET /v1/exports/{id}/events: server-sent events of status and progress.

Each event carries the whole export; its id is the export's version (its last change,
in microseconds), so a client that reconnects with ``Last-Event-ID`` gets only what is
newer.  The stream ends after the export's final state; comment lines keep it alive.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from exportd.api.deps import CurrentPrincipal, Exports
from exportd.api.schemas import ExportOut
from exportd.auth.principal import Principal
from exportd.exports.models import ExportView
from exportd.exports.service import ExportService

router = APIRouter(tags=["exports"])

MAX_STREAM_S = 3600.0  # then the client reconnects with Last-Event-ID


def _version(view: ExportView) -> int:
    return int(view.updated_at.timestamp() * 1_000_000)


def _event(view: ExportView) -> bytes:
    data = ExportOut.of(view).model_dump_json()
    return f"id: {_version(view)}\nevent: export\ndata: {data}\n\n".encode()


async def _stream(
    request: Request,
    exports: ExportService,
    principal: Principal,
    export_id: str,
    seen: int,
) -> AsyncIterator[bytes]:
    settings = request.app.state.settings
    yield b"retry: 2000\n\n"
    started = last_sent = time.monotonic()
    while time.monotonic() - started < MAX_STREAM_S:
        view = await run_in_threadpool(exports.get, principal, export_id)
        if _version(view) > seen:
            seen = _version(view)
            last_sent = time.monotonic()
            yield _event(view)
        if not view.status.is_active:
            return
        if time.monotonic() - last_sent >= settings.events_keepalive_s:
            last_sent = time.monotonic()
            yield b": keep-alive\n\n"
        if await request.is_disconnected():
            return
        await asyncio.sleep(settings.events_poll_interval_s)


@router.get(
    "/v1/exports/{export_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def export_events(
    export_id: str,
    principal: CurrentPrincipal,
    exports: Exports,
    request: Request,
    last_event_id: Annotated[str | None, Header(max_length=32)] = None,
) -> StreamingResponse:
    """Status and progress as server-sent events, until the export is final."""
    await run_in_threadpool(exports.get, principal, export_id)  # 404 before streaming
    seen = int(last_event_id) if last_event_id and last_event_id.isdigit() else 0
    return StreamingResponse(
        _stream(request, exports, principal, export_id, seen),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )

"""GET /v1/exports/{id}/events: server-sent events of status and progress.

Each event carries the whole export; its id is the export's version (its last change,
in microseconds), so a client that reconnects with ``Last-Event-ID`` gets only what is
newer.  The stream ends after the export's final state, and a reconnect that has seen
it answers 204, which tells a spec-following client to stop; comment lines keep it alive.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Header, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from exportd.api.deps import Exports, ReadExports
from exportd.api.routers import api_router
from exportd.api.schemas import ExportOut
from exportd.api.sse import Poll, event_stream
from exportd.auth.principal import Principal
from exportd.errors import RequestInvalid
from exportd.exports.models import ExportView
from exportd.exports.service import ExportService

router = api_router(tags=["exports"])

# The ids this stream sends: ASCII digits only (str.isdigit() also passes "²" and
# Arabic-Indic digits).
_EVENT_ID = re.compile(r"[0-9]{1,32}")


def _version(view: ExportView) -> int:
    return int(view.updated_at.timestamp() * 1_000_000)


def _event(view: ExportView) -> bytes:
    data = ExportOut.of(view).model_dump_json()
    return f"id: {_version(view)}\nevent: export\ndata: {data}\n\n".encode()


def _seen(last_event_id: str | None) -> int:
    """The version the client saw last: 0 when it sends none."""
    if not last_event_id:
        return 0
    if not _EVENT_ID.fullmatch(last_event_id):
        raise RequestInvalid(
            "Last-Event-ID must be the id of an event this stream sent",
            code="last_event_id_invalid",
        )
    return int(last_event_id)


def _poll(exports: ExportService, principal: Principal, export_id: str, seen: int) -> Poll:
    def poll() -> tuple[list[bytes], bool]:
        nonlocal seen
        view = exports.get(principal, export_id)
        events = []
        if _version(view) > seen:
            seen = _version(view)
            events.append(_event(view))
        return events, not view.status.is_active

    return poll


@router.get(
    "/v1/exports/{export_id}/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "`export` events, each the whole export as JSON (`ExportOut`)",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        204: {"description": "the export is final and its last state was already sent"},
    },
)
async def stream_export_events(
    export_id: str,
    principal: ReadExports,
    exports: Exports,
    request: Request,
    # The pattern documents the ids this stream sends; the check is _seen's (its own code).
    last_event_id: Annotated[
        str | None, Header(max_length=32, json_schema_extra={"pattern": f"^{_EVENT_ID.pattern}$"})
    ] = None,
) -> Response:
    """Status and progress as server-sent events, until the export is final."""
    seen = _seen(last_event_id)
    view = await run_in_threadpool(exports.get, principal, export_id)  # 404 before streaming
    if not view.status.is_active and _version(view) <= seen:
        # The client saw the final state: 204 is how SSE says "do not come back" (an
        # EventSource reconnects after any stream that ends, and stops only on this).
        return Response(status_code=204)
    return event_stream(request, _poll(exports, principal, export_id, seen))

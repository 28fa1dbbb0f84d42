"""Server-sent events by polling: one loop shared by the API's and the page's streams.

A poll returns the events to send and whether the stream is over.  Between polls a
comment line keeps proxies from closing an idle stream; a client that went away ends
it; after ``MAX_STREAM_S`` the client reconnects (``retry`` tells it how soon).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import structlog
from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from exportd.db.errors import is_unavailable

log = structlog.get_logger("exportd.api")

MAX_STREAM_S = 3600.0

Poll = Callable[[], tuple[list[bytes], bool]]


async def polled_events(
    request: Request, poll: Poll, *, interval_s: float, keepalive_s: float
) -> AsyncIterator[bytes]:
    yield b"retry: 2000\n\n"
    started = last_sent = time.monotonic()
    while time.monotonic() - started < MAX_STREAM_S:
        try:
            events, over = await run_in_threadpool(poll)  # polls read the database
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            # The status line went out long ago: end the stream, and the client comes
            # back after ``retry`` (and gets a 503 while the database is still away).
            log.warning("sse.database_unavailable", error=type(exc).__name__)
            return
        for event in events:
            last_sent = time.monotonic()
            yield event
        if over:
            return
        if time.monotonic() - last_sent >= keepalive_s:
            last_sent = time.monotonic()
            yield b": keep-alive\n\n"
        if await request.is_disconnected():
            return
        await asyncio.sleep(interval_s)


def event_stream(request: Request, poll: Poll) -> StreamingResponse:
    settings = request.app.state.settings
    events = polled_events(
        request,
        poll,
        interval_s=settings.events_poll_interval_s,
        keepalive_s=settings.events_keepalive_s,
    )
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )

"""GET /exports/live: the page's one event stream, for every export it lists.

One stream per page rather than one per export: a browser opens at most six HTTP/1.1
connections to a host, and a user may watch ten exports at once.  Each poll reads the
user's newest exports (one indexed query) and sends a ``row`` event with the row's HTML
for each one whose version changed, then a ``usage`` event (running exports, storage).
The first poll sends every row, so a page that reconnects catches up.  Each poll also
checks that the session still stands: signing out ends an open stream too (the browser's
reconnection is then refused, and it stops).
"""

from __future__ import annotations

import json

from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from exportd.api.routers import api_router
from exportd.api.sse import event_stream
from exportd.errors import Unauthenticated
from exportd.web import session
from exportd.web.routes import PAGE_SIZE, Page, page
from exportd.web.templating import row_html

router = api_router(prefix="/exports", include_in_schema=False)


def _event(kind: str, data: dict[str, str]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()


class LiveRows:
    """What one page has been sent: each export's version, so a poll sends only news."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.versions: dict[str, tuple[str, str]] = {}
        self.first = True

    def poll(self) -> tuple[list[bytes], bool]:
        p = self.page
        try:
            session.principal_of(p.request)  # signed out elsewhere: the stream ends now
        except Unauthenticated:
            return [], True
        usage = p.exports.usage(p.principal)
        mark = bool(usage["limits"]["watermark"])
        views = p.exports.list_exports(p.principal, limit=PAGE_SIZE).items
        changed = []
        for view in reversed(views):  # oldest first: each new one goes on top
            version = (view.updated_at.isoformat(), view.status.value)
            if self.versions.get(view.id) != version:
                self.versions[view.id] = version
                changed.append(view)
        out = [
            _event("row", {"id": row.id, "status": row.status_label, "html": row_html(row)})
            for row in p.rows(changed, watermark=mark)
        ]
        if out and not self.first:  # a new export or a step of one: what it uses changed
            out.append(_event("usage", {"html": p.usage_html(usage)}))
        self.first = False
        return out, False  # the page's stream lasts as long as the page


@router.get("/live", response_class=StreamingResponse)
async def live(request: Request) -> StreamingResponse:
    p = await run_in_threadpool(page, request)
    return event_stream(request, LiveRows(p).poll)

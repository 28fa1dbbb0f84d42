"""The API request's span (added only when tracing is on: off, a request pays nothing).

Named and labelled by the route's template (``GET /v1/exports/{export_id}``), never by
the path itself: a download link's path is its credential.  No query string, no
headers, no client address are recorded.  A caller's W3C ``traceparent`` is continued.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from exportd import tracing

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class TracingMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"] if scope["method"] in METHODS else "_OTHER"
        status = 0

        async def send_traced(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with tracing.server_span(method, scope["headers"]) as span:
            try:
                await self.app(scope, receive, send_traced)
            finally:
                # Starlette's router leaves the matched route in the scope.
                route = getattr(scope.get("route"), "path", None)
                if route is not None:
                    span.rename(f"{method} {route}")
                    span.set("http.route", route)
                span.set("url.scheme", scope.get("scheme"))
                if status:
                    span.set("http.response.status_code", status)
                if status >= 500:
                    span.fail(str(status))

"""Headers every response carries: no sniffing, no framing, no referrer to other sites,
a Content-Security-Policy, and ``Cache-Control: no-store`` on user data.

A route that sets one of these itself keeps its own (the document preview is framed by
the page, so it allows ``'self'`` as its ancestor).  The page's policy allows only its
own files: no inline script or style, no ``eval`` (htmx is told so in ``_base.html``).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "frame-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
# JSON, files, problems: nothing in them may run or load anything.
API_CSP = "default-src 'none'; frame-ancestors 'none'"


# Swagger UI (/docs): its bundle, style and starting script are files of this origin
# (api/docs.py); it fetches only the OpenAPI document and, to try an operation, the API.
DOCS_CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
_ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Not "no-referrer": that makes browsers send "Origin: null" on the page's own form
    # posts, which the sign-in's origin check (web/session.py) must then refuse.
    "Referrer-Policy": "same-origin",
}


def headers_for(path: str) -> dict[str, str]:
    """What a response to ``path`` gets unless it set the header itself."""
    headers = dict(_ALWAYS)
    if path.startswith("/exports/static/"):
        headers["Content-Security-Policy"] = API_CSP
        return headers  # the page's own files: cacheable
    if path == "/exports" or path.startswith("/exports/"):
        headers["Content-Security-Policy"] = PAGE_CSP
    elif path.startswith(("/docs", "/redoc")):
        headers["Content-Security-Policy"] = DOCS_CSP
    else:
        headers["Content-Security-Policy"] = API_CSP
    if path.startswith(("/v1/", "/exports")):
        # Export status, lists, download links, documents, the page: never kept by a
        # browser or a shared cache.
        headers["Cache-Control"] = "no-store"
    return headers


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wanted = headers_for(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                headers = MutableHeaders(scope=message)
                for name, value in wanted.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)

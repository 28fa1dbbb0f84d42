"""Cross-origin calls to the /v1 API from the host application's pages
(``EXPORTD_CORS_ORIGINS``): what the ``<exportd-export>`` element needs on another site.

Only the listed origins get CORS headers, only under ``/v1/``, and never with
credentials: the API is called with a bearer token or an API key that a page sends on
purpose, never with a cookie (the /exports page's session stays same-origin).  A request
from any other origin passes through untouched, so its browser keeps the answer from it.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
# What clients send besides the safelisted ones: credentials, idempotency, SSE resumption,
# long polls.
REQUEST_HEADERS = [
    "Authorization",
    "X-API-Key",
    "Content-Type",
    "Idempotency-Key",
    "If-None-Match",
    "Prefer",
    "Last-Event-ID",
    "X-Request-ID",
]
# What a page may read besides the safelisted ones.
RESPONSE_HEADERS = [
    "ETag",
    "Location",
    "Preference-Applied",
    "Retry-After",
    "X-Request-ID",
    "X-Cancelled-Exports",
]


class CorsMiddleware:
    def __init__(self, app: ASGIApp, *, origins: Sequence[str]) -> None:
        self.app = app
        self.origins = frozenset(origins)
        self.cors = CORSMiddleware(
            app,
            allow_origins=list(origins),
            allow_methods=METHODS,
            allow_headers=REQUEST_HEADERS,
            expose_headers=RESPONSE_HEADERS,
            allow_credentials=False,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"].startswith("/v1/")
            and Headers(scope=scope).get("origin") in self.origins
        ):
            await self.cors(scope, receive, send)
            return
        await self.app(scope, receive, send)

"""/docs: Swagger UI from files in installed packages, never a CDN.  Its bundle and style
come from ``fastapi-offline``, the script that starts it from ``docs_static``, so the page
works without the internet and under a CSP of its own origin only
(``security_headers.DOCS_CSP``).

/redoc sends readers to /docs: ReDoc's bundle writes its styles into ``<style>`` elements
before any nonce could reach them, runs its search in a ``blob:`` worker and shows a logo
from its makers' CDN, none of which a strict policy allows.
"""

from __future__ import annotations

from html import escape

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="{assets}/favicon.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body data-openapi="{openapi}">
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/swagger-init.js"></script>
</body>
</html>
"""


def install(app: FastAPI) -> None:
    """Serve the page and its files; the app must be made with ``docs_url=None`` and
    ``redoc_url=None`` (FastAPI's own pages load everything from a CDN)."""
    app.mount(
        ASSETS,
        StaticFiles(packages=[("fastapi_offline", "static"), ("exportd.api", "docs_static")]),
        name="docs-assets",
    )

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")  # behind a proxy that strips a prefix
        return HTMLResponse(
            _PAGE.format(
                title=escape(f"{app.title} - Swagger UI"),
                assets=escape(f"{root}{ASSETS}"),
                openapi=escape(f"{root}{app.openapi_url}"),
            )
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> RedirectResponse:
        return RedirectResponse(f"{request.scope.get('root_path', '')}/docs", status_code=308)

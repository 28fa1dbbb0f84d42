"""GET /exports/templates/{name}/fonts/{file}: a template's bundled fonts, for the page's
resume previews.

A preview is HTML in a sandboxed frame whose policy loads fonts from this site only
(``font-src 'self'``); its stylesheet names the template's fonts here.  Only the fonts a
template's manifest lists are served: the package's own files (SIL OFL), public, so no
session is needed — and none could be had: a sandboxed frame has an opaque origin, sends
no cookie, and fetches each font cross-origin (hence ``Access-Control-Allow-Origin``).
"""

from __future__ import annotations

from fastapi.responses import FileResponse, Response

from exportd.api.routers import api_router
from exportd.documents.templates import builtin_catalogue

router = api_router(prefix="/exports/templates", include_in_schema=False)

_TYPES = {".ttf": "font/ttf", ".otf": "font/otf", ".woff": "font/woff", ".woff2": "font/woff2"}


def fonts_url(template: str) -> str:
    """Where the page serves a template's fonts (its stylesheet's ``fonts/`` folder)."""
    return f"/exports/templates/{template}/fonts/"


@router.get("/{name}/fonts/{file}")
def font(name: str, file: str) -> Response:
    template = builtin_catalogue().get(name)
    path = template.font_file(file) if template is not None and template.name == name else None
    if path is None:
        return Response(status_code=404)
    return FileResponse(
        path,
        media_type=_TYPES.get(path.suffix.lower(), "application/octet-stream"),
        headers={
            "Access-Control-Allow-Origin": "*",
            "Cache-Control": "public, max-age=86400",
        },
    )

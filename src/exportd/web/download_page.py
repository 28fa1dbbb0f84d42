"""The page an emailed download link opens: ``/exports/downloads/<token>``.

Mail scanners (Microsoft Safe Links and the like) fetch every link in a message before
the user clicks it, with GET or HEAD. A one-time link that a GET spends would reach the
user already used, so this page's GET and HEAD only show what the link downloads (the
same refusals as the download itself: used, expired, forged), and its button POSTs to the
same address, which spends the token and answers the file.

The token in the path is the whole credential, as on ``/v1/downloads/<token>``: no
session, no CSRF token. A POST from another site's page is refused all the same
(``Sec-Fetch-Site``, else ``Origin``/``Referer``, as signing in is): it could only spend
a link its owner has not used yet. The page loads nothing from elsewhere (the page's CSP)
and ``Referrer-Policy: same-origin`` keeps the token out of any other site's logs.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from exportd.api.file_response import artifact_response
from exportd.api.routers import api_router
from exportd.errors import ExportdError, Forbidden, Gone
from exportd.exports.downloads import Downloads, LinkPreview
from exportd.web import session
from exportd.web.templating import templates

router = api_router(prefix="/exports/downloads", include_in_schema=False)

# Not for search engines or caches; the token never leaves in a Referer (security headers).
_HEADERS = {"X-Robots-Tag": "noindex", "Cache-Control": "no-store"}


def _downloads(request: Request) -> Downloads:
    downloads: Downloads = request.app.state.downloads
    return downloads


@router.api_route("/{token}", methods=["GET", "HEAD"], response_class=HTMLResponse)
def landing(request: Request, token: str) -> Response:
    """What the link downloads, and a button; spends nothing (scanners open it too)."""
    try:
        link = _downloads(request).peek(token)
    except ExportdError as exc:
        return _refused(request, exc)
    return _page(request, link=link)


@router.post("/{token}")
def download(request: Request, token: str) -> Response:
    """The button: spends the one-time token and answers the file."""
    if not session.from_this_site(request):
        refusal = Forbidden("the download starts from this page's own button", code="csrf_failed")
        return _refused(request, refusal)
    downloads = _downloads(request)
    try:
        artifact = downloads.redeem(token)
    except ExportdError as exc:
        return _refused(request, exc)
    # After a POST, 303: the browser GETs a presigned URL (S3) as it should.
    return artifact_response(artifact, downloads.storage, redirect=303)


def _refused(request: Request, exc: ExportdError) -> Response:
    status = 403 if isinstance(exc, Forbidden) else 410 if isinstance(exc, Gone) else 503
    return _page(request, status=status, message=exc.message, code=exc.code)


def _page(
    request: Request,
    *,
    link: LinkPreview | None = None,
    status: int = 200,
    message: str = "",
    code: str = "",
) -> Response:
    context = {"link": link, "action": request.url.path, "message": message, "code": code}
    return templates.TemplateResponse(
        request, "download.html", context, status_code=status, headers=_HEADERS
    )

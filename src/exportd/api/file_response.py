"""A download's answer (``artifact_response``), and a file download whose Range refusals
are problem+json, like every other error.

Starlette's ``FileResponse`` answers Range requests itself, and refuses a malformed
header with a plain-text 400 and a range past the file's end with a plain-text 416.
This subclass lets it decide (so If-Range and multi-range rules stay Starlette's) and
replaces only such a refusal with a problem: ``range_invalid`` (400) or
``range_not_satisfiable`` (416, with ``Content-Range: bytes */size``).
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    JSONResponse,
    MalformedRangeHeader,
    RangeNotSatisfiable,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.types import Message, Receive, Scope, Send

from exportd.api.problems import problem
from exportd.exports.downloads import Artifact
from exportd.storage import Storage
from exportd.storage.base import content_disposition

_PRIVATE = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}

# The file response's own status is 200: these come only from its Range handling.
_REFUSALS = {
    400: ("range_invalid", "the Range header is not a byte range this server reads"),
    416: ("range_not_satisfiable", "the requested range starts past the end of the file"),
}


class RangedFileResponse(FileResponse):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refused: Message | None = None

        async def send_or_hold(message: Message) -> None:
            nonlocal refused
            if message["type"] == "http.response.start" and message["status"] in _REFUSALS:
                refused = message
            elif refused is None:
                await send(message)

        await super().__call__(scope, receive, send_or_hold)
        if refused is not None:
            await _problem(scope, refused)(scope, receive, send)


def range_refusal(request: Request, size: int) -> JSONResponse | None:
    """The refusal ``RangedFileResponse`` would give this request's Range header for a
    file of ``size`` bytes, decided before the file is located: a one-time link must not
    be spent on a request that gets no file.  Starlette's own parser decides, so both
    agree; with ``If-Range`` the header may be ignored, so it is left to the response."""
    http_range = request.headers.get("range")
    if http_range is None or "if-range" in request.headers:
        return None
    try:
        FileResponse._parse_range_header(http_range, size)
    except MalformedRangeHeader:
        code, detail = _REFUSALS[400]
        return problem(request, status=400, code=code, detail=detail)
    except RangeNotSatisfiable:
        code, detail = _REFUSALS[416]
        headers = {"Content-Range": f"bytes */{size}"}
        return problem(request, status=416, code=code, detail=detail, headers=headers)
    return None


def _problem(scope: Scope, refused: Message) -> JSONResponse:
    status = refused["status"]
    code, detail = _REFUSALS[status]
    content_range = Headers(raw=list(refused.get("headers", []))).get("content-range")
    headers = {"Content-Range": content_range} if content_range else None
    return problem(Request(scope), status=status, code=code, detail=detail, headers=headers)


def artifact_response(artifact: Artifact, storage: Storage, *, redirect: int = 302) -> Response:
    """A download's answer: a local file with Range support, a redirect to a presigned
    URL (S3; ``redirect`` 303 after a POST), or else a stream from storage."""
    if artifact.url is not None:
        # S3: the client fetches straight from the bucket with a short-lived signed URL.
        return RedirectResponse(artifact.url, status_code=redirect, headers=_PRIVATE)
    if artifact.path is not None:
        # FileResponse answers Range requests (its refusals as problems: RangedFileResponse)
        # and writes RFC 6266 filename* when needed.
        return RangedFileResponse(
            artifact.path,
            media_type=artifact.content_type,
            filename=artifact.filename,
            headers=_PRIVATE,
        )
    return StreamingResponse(
        storage.read(artifact.key),
        media_type=artifact.content_type,
        headers={**_PRIVATE, "Content-Disposition": content_disposition(artifact.filename)},
    )

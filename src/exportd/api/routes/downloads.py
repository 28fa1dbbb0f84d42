"""Downloads: the owner's, and one-time links that need no other credential."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request, status
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field

from exportd.api.deps import ReadExports
from exportd.api.file_response import artifact_response, range_refusal
from exportd.api.routers import api_router
from exportd.api.split_schemas import FileLinkOut
from exportd.documents.export import CONTENT_TYPES as DOCUMENT_TYPES
from exportd.exports.downloads import Artifact, Downloads
from exportd.formats.base import FORMATS
from exportd.formats.compression import COMPRESSIONS

router = api_router(tags=["downloads"])


class LinkOut(BaseModel):
    url: str
    expires_at: datetime
    files: list[FileLinkOut] | None = Field(
        default=None,
        description="a split export delivered as parts: a one-time link for each of its "
        "files (parts, manifest, signature); `url` downloads the manifest",
    )


def _downloads(request: Request) -> Downloads:
    downloads: Downloads = request.app.state.downloads
    return downloads


def _file(artifact: Artifact, downloads: Downloads) -> Response:
    return artifact_response(artifact, downloads.storage)


def _file_content() -> dict[str, Any]:
    """Each format's media type; a file is bytes (JSON too: any JSON).  Bytes come first:
    generated clients (openapi-python-client) read the body as the first type lists it,
    and a CSV parsed as JSON fails."""
    types = [f.content_type for f in FORMATS.values()] + list(DOCUMENT_TYPES.values())
    types += [c.content_type for c in COMPRESSIONS.values()]
    media = sorted({t.split(";")[0] for t in types})
    content = {m: {"schema": {} if m == "application/json" else BINARY} for m in media}
    return {"application/octet-stream": {"schema": BINARY}, **content}


BINARY = {"type": "string", "format": "binary"}
_DISPOSITION = {
    "description": "`attachment`, with RFC 6266 `filename*`",
    "schema": {"type": "string"},
}
FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "the file", "content": _file_content(),
          "headers": {"Content-Disposition": _DISPOSITION}},
    206: {"description": "the byte range asked for (`Range`)", "content": _file_content(),
          "headers": {"Content-Range": {"description": "`bytes first-last/size`",
                                        "schema": {"type": "string"}}}},
    302: {"description": "S3: a presigned URL to fetch the file from, valid a few minutes",
          "headers": {"Location": {"description": "the presigned URL",
                                   "schema": {"type": "string"}}}},
}  # fmt: skip


@router.get(
    "/v1/exports/{export_id}/download", response_class=FileResponse, responses=FILE_RESPONSES
)
def download_export(export_id: str, principal: ReadExports, request: Request) -> Response:
    """The export's file (owner or admin): streamed with Range support from local storage,
    a 302 to a presigned URL from S3."""
    downloads = _downloads(request)
    return _file(downloads.artifact(principal, export_id), downloads)


@router.post(
    "/v1/exports/{export_id}/download-token",
    status_code=status.HTTP_201_CREATED,
    response_model=LinkOut,
)
def create_download_link(export_id: str, principal: ReadExports, request: Request) -> LinkOut:
    """A signed link that downloads the file once, until it expires; for a split export
    delivered as parts, one more for each of its files."""
    downloads = _downloads(request)
    link = downloads.issue(principal, export_id)
    files = [
        FileLinkOut(name=name, url=each.url, expires_at=each.expires_at)
        for name, each in downloads.issue_all(principal, export_id)
    ]
    return LinkOut(url=link.url, expires_at=link.expires_at, files=files or None)


@router.get("/v1/downloads/{token}", response_class=FileResponse, responses=FILE_RESPONSES)
def download_with_link(token: str, request: Request) -> Response:
    """No other credential than the link itself: signed, expiring, one-time."""
    downloads = _downloads(request)
    if "range" in request.headers:
        # A Range the file cannot answer is refused before the link is spent.
        refusal = range_refusal(request, downloads.peek(token).size)
        if refusal is not None:
            return refusal
    return _file(downloads.redeem(token), downloads)

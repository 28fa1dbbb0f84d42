"""Downloads: the owner's, and one-time links that need no other credential."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, status
from fastapi.responses import FileResponse
from pydantic import BaseModel

from exportd.api.deps import CurrentPrincipal
from exportd.exports.downloads import Artifact, Downloads

router = APIRouter(tags=["downloads"])


class LinkOut(BaseModel):
    url: str
    expires_at: datetime


def _downloads(request: Request) -> Downloads:
    downloads: Downloads = request.app.state.downloads
    return downloads


def _file(artifact: Artifact) -> FileResponse:
    # FileResponse answers Range requests and writes RFC 6266 filename* when needed.
    return FileResponse(
        artifact.path,
        media_type=artifact.content_type,
        filename=artifact.filename,
        headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/v1/exports/{export_id}/download", response_class=FileResponse)
def download(export_id: str, principal: CurrentPrincipal, request: Request) -> FileResponse:
    """The export's file (owner or admin); supports Range."""
    return _file(_downloads(request).artifact(principal, export_id))


@router.post(
    "/v1/exports/{export_id}/download-token",
    status_code=status.HTTP_201_CREATED,
    response_model=LinkOut,
)
def download_link(export_id: str, principal: CurrentPrincipal, request: Request) -> LinkOut:
    """A signed link that downloads the file once, until it expires."""
    link = _downloads(request).issue(principal, export_id)
    return LinkOut(url=link.url, expires_at=link.expires_at)


@router.get("/v1/downloads/{token}", response_class=FileResponse)
def download_with_link(token: str, request: Request) -> FileResponse:
    """No other credential than the link itself: signed, expiring, one-time."""
    return _file(_downloads(request).redeem(token))

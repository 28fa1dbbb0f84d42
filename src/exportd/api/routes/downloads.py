"""Downloads: the owner's, and one-time links that need no other credential."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, status
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel

from exportd.api.deps import ReadExports
from exportd.api.file_response import artifact_response
from exportd.exports.downloads import Artifact, Downloads

router = APIRouter(tags=["downloads"])


class LinkOut(BaseModel):
    url: str
    expires_at: datetime


def _downloads(request: Request) -> Downloads:
    downloads: Downloads = request.app.state.downloads
    return downloads


def _file(artifact: Artifact, downloads: Downloads) -> Response:
    return artifact_response(artifact, downloads.storage)


@router.get(
    "/v1/exports/{export_id}/download",
    response_class=FileResponse,
    responses={302: {"description": "presigned S3 URL"}},
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
    """A signed link that downloads the file once, until it expires."""
    link = _downloads(request).issue(principal, export_id)
    return LinkOut(url=link.url, expires_at=link.expires_at)


@router.get(
    "/v1/downloads/{token}",
    response_class=FileResponse,
    responses={302: {"description": "presigned S3 URL"}},
)
def download_with_link(token: str, request: Request) -> Response:
    """No other credential than the link itself: signed, expiring, one-time."""
    downloads = _downloads(request)
    return _file(downloads.redeem(token), downloads)

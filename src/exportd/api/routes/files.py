"""An export's files, each downloadable on its own (a split export delivered as parts),
and the public keys that check split exports' manifests."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Request, Response, status
from fastapi.responses import FileResponse

from exportd.api.deps import ReadExports
from exportd.api.file_response import artifact_response
from exportd.api.routers import api_router
from exportd.api.routes.downloads import FILE_RESPONSES, LinkOut
from exportd.api.split_schemas import FileList, FileOut, ManifestKeys
from exportd.exports.downloads import Downloads

router = api_router(tags=["downloads"])
FileName = Annotated[str, Path(min_length=1, max_length=255, description="the file's name")]
KEYS_PATH = "/.well-known/exportd-manifest-keys"


def _downloads(request: Request) -> Downloads:
    downloads: Downloads = request.app.state.downloads
    return downloads


@router.get("/v1/exports/{export_id}/files", response_model=FileList)
def list_export_files(export_id: str, principal: ReadExports, request: Request) -> FileList:
    """The export's files: a split export's parts, its manifest.json and the manifest's
    signature (delivered as parts), else its one file; each with its own download."""
    base = f"/v1/exports/{export_id}"
    files = _downloads(request).files(principal, export_id)
    return FileList(
        files=[
            FileOut(
                name=f["name"],
                role=f.get("role", "file"),
                size=f.get("size") or 0,
                sha256=f.get("sha256"),
                rows=f.get("rows"),
                download=f"{base}/download" if f["role"] == "file" else f"{base}/files/{f['name']}",
            )
            for f in files
        ]
    )


@router.get(
    "/v1/exports/{export_id}/files/{name}",
    response_class=FileResponse,
    responses=FILE_RESPONSES,
)
def download_export_file(
    export_id: str, name: FileName, principal: ReadExports, request: Request
) -> Response:
    """One of the export's files, by name (owner or admin)."""
    downloads = _downloads(request)
    return artifact_response(downloads.artifact(principal, export_id, name), downloads.storage)


@router.post(
    "/v1/exports/{export_id}/files/{name}/download-token",
    status_code=status.HTTP_201_CREATED,
    response_model=LinkOut,
)
def create_file_download_link(
    export_id: str, name: FileName, principal: ReadExports, request: Request
) -> LinkOut:
    """A signed link that downloads this one file once, until it expires (each part of a
    split export has its own: spending one spends no other)."""
    link = _downloads(request).issue(principal, export_id, name)
    return LinkOut(url=link.url, expires_at=link.expires_at)


@router.get(KEYS_PATH, response_model=ManifestKeys)
def get_manifest_keys(request: Request, response: Response) -> dict[str, Any]:
    """The Ed25519 public keys (a JWK set) that check split exports' `manifest.json.sig`;
    `exportd verify --key` reads this document."""
    response.headers["Cache-Control"] = "public, max-age=300"
    keys: dict[str, Any] = request.app.state.manifest_keys
    return keys

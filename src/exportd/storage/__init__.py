"""Artifact storage: bytes by key, behind a small port (local directory or S3)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from exportd.errors import ConfigError
from exportd.storage.base import Storage, check_key
from exportd.storage.local import LocalStorage

if TYPE_CHECKING:
    from exportd.config import Settings

__all__ = ["LocalStorage", "Storage", "check_key", "open_storage", "storage_for"]


def open_storage(
    url: str, *, s3_endpoint_url: str | None = None, s3_region: str | None = None
) -> Storage:
    """``file://./var/exports``, ``file:///abs/path`` or ``s3://bucket/prefix``."""
    if url.startswith("file://"):
        return LocalStorage(Path(url.removeprefix("file://")))
    if url.startswith("s3://"):
        from exportd.storage.s3 import S3Storage, s3_client

        parts = urlsplit(url)
        if not parts.netloc:
            raise ConfigError("EXPORTD_STORAGE_URL: s3:// needs a bucket (s3://bucket/prefix)")
        return S3Storage(s3_client(s3_endpoint_url, s3_region), parts.netloc, parts.path)
    raise ConfigError("EXPORTD_STORAGE_URL must start with file:// or s3://")


def storage_for(settings: Settings) -> Storage:
    return open_storage(
        settings.storage_url, s3_endpoint_url=settings.s3_endpoint_url, s3_region=settings.s3_region
    )

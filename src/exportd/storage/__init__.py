"""Artifact storage: bytes by key, behind a small port."""

from exportd.storage.base import Storage, StoredFile
from exportd.storage.local import LocalStorage

__all__ = ["LocalStorage", "Storage", "StoredFile"]

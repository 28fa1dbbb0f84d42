"""What an export's ``result`` says is stored: one file, or a split export's files.

One place reads the result's shape for everything that deletes, counts or serves files
(cleanup, the discard of a result not kept, quotas, downloads), so a split export's
parts are never left behind nor left out of the owner's quota.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def stored_keys(result: Mapping[str, Any] | None) -> list[str]:
    """Every storage key the result holds: the file, and each of a split's files."""
    if not result:
        return []
    keys = [result["key"]] if result.get("key") else []
    keys += [f["key"] for f in result.get("files") or () if f.get("key") not in keys]
    return keys


def stored_size(result: Mapping[str, Any] | None) -> int:
    """The bytes the result keeps in storage (a split's parts, manifest and signature)."""
    if not result:
        return 0
    return int(result.get("stored_bytes", result.get("size", 0)))


def files_of(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The files an export's owner may download, each by its name: a split's parts,
    manifest and signature; else the one file."""
    files = result.get("files")
    if files:
        return [dict(f) for f in files]
    return [
        {
            "name": result.get("filename", "export"),
            "key": result.get("key"),
            "size": result.get("size", 0),
            "sha256": result.get("sha256"),
            "rows": result.get("row_count"),
            "role": "file",
        }
    ]

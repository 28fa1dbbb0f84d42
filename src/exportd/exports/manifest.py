"""The manifest of a split export: what its parts are, signed.

``manifest.json`` is plain JSON a person or a program reads as it is; its signature is
``manifest.json.sig`` beside it, 64 raw bytes of Ed25519 over exactly the manifest's
bytes.  Detached rather than embedded: an embedded signature signs a re-serialisation
of the JSON (a canonical form every verifier must rebuild byte for byte), a detached one
signs the file as stored, so any Ed25519 tool checks it (``openssl pkeyutl -verify
-rawin``) and no canonicalisation bug can make two readers see different signed
content.  Reading refuses what exportd never writes (a repeated key, a part name with a
directory in it), so what is checked is what is read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from exportd.manifest_keys import ALGORITHM

MANIFEST_NAME = "manifest.json"
SIGNATURE_SUFFIX = ".sig"
VERSION = 1
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Part:
    name: str
    rows: int
    size: int  # bytes
    sha256: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "rows": self.rows, "bytes": self.size, "sha256": self.sha256}


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    export_id: str
    source: str
    format: str
    options: dict[str, Any]
    created_at: str  # the export's, as asked for
    signed_at: str
    signing_key: str  # the kid of the key that signed it
    parts: tuple[Part, ...]

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.parts)

    @property
    def size(self) -> int:
        return sum(p.size for p in self.parts)

    def encode(self) -> bytes:
        """The file's bytes: what is signed, stored and downloaded, unchanged."""
        document = {
            "exportd_manifest": VERSION,
            "export_id": self.export_id,
            "source": self.source,
            "format": self.format,
            "options": self.options,
            "created_at": self.created_at,
            "signed_at": self.signed_at,
            "algorithm": ALGORITHM,
            "signing_key": self.signing_key,
            "rows": self.rows,
            "bytes": self.size,
            "parts": [p.as_dict() for p in self.parts],
        }
        return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()


def timestamp(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def plain_name(name: str) -> str:
    """A file name that unpacks where it is (no directory, no hidden file)."""
    return name.replace("/", "_").replace("\\", "_").replace("\0", "_").lstrip(". ") or "export"


def parse(data: bytes) -> Manifest:
    """The manifest in ``data``; ValueError naming what is wrong with it."""
    try:
        document = json.loads(data.decode(), object_pairs_hook=_no_repeats)
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(document, dict) or document.get("exportd_manifest") != VERSION:
        raise ValueError(f"not an exportd manifest (version {VERSION})")
    parts = document.get("parts")
    if not isinstance(parts, list) or not parts:
        raise ValueError("`parts` is not a list of parts")
    manifest = Manifest(
        export_id=_text(document, "export_id"),
        source=_text(document, "source"),
        format=_text(document, "format"),
        options=document.get("options") or {},
        created_at=_text(document, "created_at"),
        signed_at=_text(document, "signed_at"),
        signing_key=_text(document, "signing_key"),
        parts=tuple(_part(p, n) for n, p in enumerate(parts, 1)),
    )
    names = [p.name for p in manifest.parts]
    if len(set(names)) != len(names):
        raise ValueError("a part is listed twice")
    if (document.get("rows"), document.get("bytes")) != (manifest.rows, manifest.size):
        raise ValueError("`rows` or `bytes` is not the sum of the parts'")
    return manifest


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise ValueError(f"the key {repeated[0]!r} appears twice in one object")
    return dict(pairs)


def _text(document: dict[str, Any], key: str) -> str:
    value = document.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"`{key}` is missing or not text")
    return value


def _part(item: Any, number: int) -> Part:
    if not isinstance(item, dict):
        raise ValueError(f"part {number} is not an object")
    name, rows, size, digest = (item.get(k) for k in ("name", "rows", "bytes", "sha256"))
    if not isinstance(name, str) or not name or plain_name(name) != name:
        raise ValueError(f"part {number}'s name is not a plain file name")
    for key, value in (("rows", rows), ("bytes", size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"part {number}'s `{key}` is not a count")
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
        raise ValueError(f"part {number}'s `sha256` is not a hex SHA-256")
    return Part(name, rows, size, digest)  # type: ignore[arg-type]

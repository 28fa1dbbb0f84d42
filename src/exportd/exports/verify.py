"""Checking a split export's download offline: the manifest's signature, then every part
against the size and SHA-256 the manifest gives it.

A bundle is the zip as downloaded, or a folder holding the manifest and the parts (the
zip unpacked, or the parts downloaded one by one).  Each problem is a finding that
names what is wrong — a part missing, a part altered, a file the manifest does not list,
a bad signature, a key that is not the signer's — so a person knows what to fetch again.
"""

from __future__ import annotations

import hashlib
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from exportd.exports.manifest import MANIFEST_NAME, SIGNATURE_SUFFIX, Manifest, parse
from exportd.manifest_keys import PublicKey

CHUNK = 1 << 20
SIGNATURE_BYTES = 64
# A member whose bytes fail the zip's own checks (CRC-32, deflate): it was changed.
_UNREADABLE = (zipfile.BadZipFile, zlib.error, EOFError)


@dataclass(frozen=True, slots=True)
class Finding:
    ok: bool
    subject: str  # "signature", "manifest" or a file's name
    detail: str


@dataclass
class Report:
    manifest: Manifest | None = None
    signer: PublicKey | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.findings) and all(f.ok for f in self.findings)

    def add(self, ok: bool, subject: str, detail: str) -> None:
        self.findings.append(Finding(ok, subject, detail))


class Bundle(Protocol):
    manifest_name: str

    def read(self, name: str) -> bytes | None:
        """A small file's bytes (the manifest, its signature), None when absent."""

    def chunks(self, name: str) -> Iterator[bytes] | None:
        """A part's bytes, None when absent; BadZipFile/OSError when unreadable."""

    def unlisted(self, listed: set[str]) -> list[str]:
        """Files in the bundle the manifest does not list (a zip holds nothing else)."""


class ZipBundle:
    manifest_name = MANIFEST_NAME

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self._zip = archive
        self._names = set(archive.namelist())

    def read(self, name: str) -> bytes | None:
        return self._zip.read(name) if name in self._names else None

    def chunks(self, name: str) -> Iterator[bytes] | None:
        if name not in self._names:
            return None
        return _chunks(self._zip.open(name))

    def unlisted(self, listed: set[str]) -> list[str]:
        own = {self.manifest_name, self.manifest_name + SIGNATURE_SUFFIX}
        return sorted(self._names - listed - own)


class FolderBundle:
    """The manifest at ``path``, its signature and the parts beside it."""

    def __init__(self, path: Path) -> None:
        self._folder = path.parent
        self.manifest_name = path.name

    def read(self, name: str) -> bytes | None:
        path = self._folder / name
        return path.read_bytes() if path.is_file() else None

    def chunks(self, name: str) -> Iterator[bytes] | None:
        path = self._folder / name
        return _chunks(path.open("rb")) if path.is_file() else None

    def unlisted(self, listed: set[str]) -> list[str]:
        return []  # a folder of downloads holds other files too


def _chunks(handle: object) -> Iterator[bytes]:
    with handle:  # type: ignore[attr-defined]
        while block := handle.read(CHUNK):  # type: ignore[attr-defined]
            yield block


def verify(bundle: Bundle, keys: list[PublicKey]) -> Report:
    report = Report()
    name = bundle.manifest_name
    try:
        data = bundle.read(name)
    except _UNREADABLE as exc:
        report.add(False, "manifest", f"ALTERED: {name} is unreadable in the zip ({exc})")
        return report
    if data is None:
        report.add(False, "manifest", f"MISSING: {name} is not there, nothing to check against")
        return report
    _check_signature(report, bundle, data, keys)
    try:
        report.manifest = parse(data)
    except ValueError as exc:
        report.add(False, "manifest", f"{name} cannot be read: {exc}")
        return report
    for part in report.manifest.parts:
        report.findings.append(_check_part(bundle, part.name, part.size, part.sha256))
    listed = {p.name for p in report.manifest.parts}
    for extra in bundle.unlisted(listed):
        report.add(False, extra, "EXTRA: in the download but not in the manifest")
    return report


def _check_signature(report: Report, bundle: Bundle, data: bytes, keys: list[PublicKey]) -> None:
    sig_name = bundle.manifest_name + SIGNATURE_SUFFIX
    try:
        signature = bundle.read(sig_name)
    except _UNREADABLE as exc:
        report.add(False, "signature", f"ALTERED: {sig_name} is unreadable in the zip ({exc})")
        return
    if signature is None:
        report.add(False, "signature", f"MISSING: {sig_name} is not there")
        return
    if len(signature) != SIGNATURE_BYTES:
        report.add(False, "signature", f"{sig_name} is not an Ed25519 signature")
        return
    for key in keys:
        if key.verifies(signature, data):
            report.signer = key
            report.add(True, "signature", f"good, by key {key.kid}")
            return
    try:
        named = parse(data).signing_key
    except ValueError:
        named = None
    given = ", ".join(k.kid for k in keys)
    if named is not None and named not in {k.kid for k in keys}:
        report.add(
            False,
            "signature",
            f"WRONG KEY: the manifest names key {named}; the key given is {given}",
        )
        return
    report.add(
        False,
        "signature",
        f"BAD: {bundle.manifest_name} or its signature was changed after signing "
        f"(checked with key {given})",
    )


def _check_part(bundle: Bundle, name: str, size: int, sha256: str) -> Finding:
    chunks = bundle.chunks(name)
    if chunks is None:
        return Finding(False, name, "MISSING")
    digest, seen = hashlib.sha256(), 0
    try:
        for block in chunks:
            digest.update(block)
            seen += len(block)
    except _UNREADABLE as exc:
        # The zip's own check (CRC-32, deflate) failed: its bytes were changed.
        return Finding(False, name, f"ALTERED: unreadable in the zip ({exc})")
    if seen != size:
        return Finding(False, name, f"ALTERED: {seen:,} bytes, the manifest says {size:,}")
    if digest.hexdigest() != sha256:
        return Finding(False, name, "ALTERED: its SHA-256 is not the manifest's")
    return Finding(True, name, f"ok ({size:,} bytes)")

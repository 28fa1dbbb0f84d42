"""Downloads: the owner's authenticated download, and signed one-time links.

A link token is ``<id>.<expiry>.<signature>``: HMAC-SHA256 over id and expiry with the
secret key, so a tampered or forged token is refused before any database look-up.  Only
the token's SHA-256 is stored; the first download marks it used (a conditional update,
so two simultaneous uses cannot both pass).
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Row, select, update

from exportd.auth.principal import Principal
from exportd.clock import Clock, SystemClock
from exportd.db import Database
from exportd.db.tables import download_tokens, exports
from exportd.errors import Conflict, Gone, NotFound
from exportd.exports.artifacts import files_of
from exportd.exports.links import DownloadLink, DownloadLinks, invalid_token, token_hash
from exportd.exports.models import ExportStatus, ExportView
from exportd.exports.service import ExportService
from exportd.ops import events
from exportd.ops.events import EventKind
from exportd.storage import Storage


@dataclass(frozen=True, slots=True)
class Artifact:
    """Where a download comes from: a local file, a presigned URL, or else a stream of
    ``key`` from storage."""

    key: str
    filename: str
    content_type: str
    size: int
    path: Path | None = None
    url: str | None = None


class Downloads:
    def __init__(
        self,
        *,
        db: Database,
        exports_service: ExportService,
        storage: Storage,
        secret_key: str,
        token_ttl_s: float,
        link_ttl_s: float = 300.0,
        clock: Clock | None = None,
    ) -> None:
        self.db = db
        self.exports = exports_service
        self.storage = storage
        self.clock = clock or SystemClock()
        self.links = DownloadLinks(secret_key, token_ttl_s, self.clock)
        self.link_ttl_s = link_ttl_s

    def artifact(self, principal: Principal, export_id: str, file: str | None = None) -> Artifact:
        """The owner's (or an admin's) download of a completed export (or of the partial
        file a failed one kept); ``file``: one of its files by name (a split's part)."""
        view = self._ready(self.exports.get(principal, export_id))
        _file_of(view.result, file)  # an unknown name is refused before anything counts
        with self.db.write() as conn:
            return self._count_and_locate(conn, export_id, file)

    def issue(self, principal: Principal, export_id: str, file: str | None = None) -> DownloadLink:
        """A fresh one-time link (each call makes a new one; older ones stay valid) to the
        export's file, or to one of its files by name."""
        view = self._ready(self.exports.get(principal, export_id))
        _file_of(view.result, file)
        with self.db.write() as conn:
            return self.links.mint(conn, export_id, file=file)

    def issue_all(self, principal: Principal, export_id: str) -> list[tuple[str, DownloadLink]]:
        """A one-time link per file of a split export delivered as parts (each its own,
        spent on its own), in one transaction; none for an export of one file."""
        view = self._ready(self.exports.get(principal, export_id))
        names = [f["name"] for f in (view.result or {}).get("files") or ()]
        with self.db.write() as conn:
            return [(name, self.links.mint(conn, export_id, file=name)) for name in names]

    def files(self, principal: Principal, export_id: str) -> list[dict[str, Any]]:
        """The files the export's owner may download, each by name."""
        view = self._ready(self.exports.get(principal, export_id))
        return files_of(view.result or {})

    def redeem(self, token: str) -> Artifact:
        """Spend a one-time link: the file, once."""
        token_id = self.links.verify(token)
        with self.db.write() as conn:
            row = self._stored(conn, token_id, token)
            used = conn.execute(
                update(download_tokens)
                .where(download_tokens.c.id == token_id, download_tokens.c.used_at.is_(None))
                .values(used_at=self.clock.now())
            ).rowcount
            if not used:
                raise _used()
            self._available(conn, row.export_id)
            return self._count_and_locate(conn, row.export_id, row.file)

    def peek(self, token: str) -> LinkPreview:
        """What a link would download, refused exactly as ``redeem`` would refuse it, and
        spending nothing: for the page an emailed link opens (mail scanners open it too)."""
        token_id = self.links.verify(token)
        with self.db.read() as conn:
            row = self._stored(conn, token_id, token)
            if row.used_at is not None:
                raise _used()
            self._available(conn, row.export_id)
            result = conn.execute(
                select(exports.c.result).where(exports.c.id == row.export_id)
            ).scalar_one()
        found = _file_of(result, row.file)
        return LinkPreview(
            filename=safe_filename(found["name"]),
            size=int(found.get("size") or 0),
            expires_at=row.expires_at,
        )

    # -- helpers -----------------------------------------------------------------------

    def _stored(self, conn: Connection, token_id: str, token: str) -> Row[Any]:
        row = conn.execute(select(download_tokens).where(download_tokens.c.id == token_id)).first()
        if row is None or not hmac.compare_digest(row.token_hash, token_hash(token)):
            raise invalid_token()
        return row

    def _available(self, conn: Connection, export_id: str) -> None:
        # Links are minted only for a file to download: a completed export's, or the
        # partial file of a failed one (gone once it expires).
        if self._status(conn, export_id) not in (ExportStatus.COMPLETED, ExportStatus.FAILED):
            raise Gone("the export's file is no longer available", code="export_expired")

    def _ready(self, view: ExportView) -> ExportView:
        status = view.status
        if status is ExportStatus.EXPIRED:
            raise Gone("the export's file is no longer available", code="export_expired")
        if status is ExportStatus.FAILED and (view.result or {}).get("partial"):
            if view.expires_at is not None and view.expires_at <= self.clock.now():
                raise Gone("the partial file is no longer available", code="export_expired")
            return view
        if status is not ExportStatus.COMPLETED:
            raise Conflict(
                f"the export is {status}; there is nothing to download yet", code="export_not_ready"
            )
        return view

    def _status(self, conn: Connection, export_id: str) -> ExportStatus:
        row = conn.execute(
            select(exports.c.status, exports.c.expires_at, exports.c.deleted_at).where(
                exports.c.id == export_id
            )
        ).first()
        if row is None or row.deleted_at is not None:
            return ExportStatus.EXPIRED
        if row.expires_at is not None and row.expires_at <= self.clock.now():
            return ExportStatus.EXPIRED
        return ExportStatus(row.status)

    def _count_and_locate(self, conn: Connection, export_id: str, file: str | None) -> Artifact:
        row = conn.execute(select(exports).where(exports.c.id == export_id)).one()
        artifact = self._artifact(_file_of(row.result, file))
        conn.execute(
            update(exports)
            .where(exports.c.id == export_id)
            .values(
                download_count=exports.c.download_count + 1,
                last_downloaded_at=self.clock.now(),
            )
        )
        events.record(conn, EventKind.DOWNLOADED, self.clock.now(), export=row)
        return artifact

    def _artifact(self, found: dict[str, Any]) -> Artifact:
        key: str = found.get("key") or ""
        size = self.storage.size(key) if key else None
        if size is None:
            raise Gone("the export's file is no longer available", code="export_expired")
        filename = safe_filename(found["name"])
        content_type = found.get("content_type") or "application/octet-stream"
        path = self.storage.local_path(key)
        url = None
        if path is None:
            url = self.storage.link(
                key, filename=filename, content_type=content_type, ttl_s=self.link_ttl_s
            )
        return Artifact(key, filename, content_type, size, path=path, url=url)


@dataclass(frozen=True, slots=True)
class LinkPreview:
    filename: str
    size: int
    expires_at: datetime


def _file_of(result: dict[str, Any] | None, name: str | None) -> dict[str, Any]:
    """The export's main file (``name`` None), or the file of that name among its files."""
    result = result or {}
    if name is None:
        return {
            "name": result.get("filename", "export"),
            "key": result.get("key"),
            "size": result.get("size"),
            "content_type": result.get("content_type"),
        }
    for found in files_of(result):
        if found["name"] == name:
            return found
    raise NotFound(f"the export has no file named {name!r}", code="file_not_found")


def _used() -> Gone:
    return Gone("this download link was already used", code="download_token_used")


_UNSAFE = re.compile(r"[^\w.\- ]+", re.UNICODE)


def safe_filename(name: str) -> str:
    """No path separators, control characters or leading dots; never empty."""
    cleaned = _UNSAFE.sub("_", name.replace("/", "_").replace("\\", "_")).strip(" .")
    return cleaned[:200] or "export"

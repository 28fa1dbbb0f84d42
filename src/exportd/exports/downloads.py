"""Downloads: the owner's authenticated download, and signed one-time links.

A link token is ``<id>.<expiry>.<signature>``: HMAC-SHA256 over id and expiry with the
secret key, so a tampered or forged token is refused before any database look-up.  Only
the token's SHA-256 is stored; the first download marks it used (a conditional update,
so two simultaneous uses cannot both pass).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from exportd.auth.principal import Principal
from exportd.clock import Clock, SystemClock
from exportd.db import Database
from exportd.db.tables import download_tokens, exports
from exportd.errors import Conflict, Forbidden, Gone
from exportd.exports.models import ExportStatus
from exportd.exports.service import ExportService
from exportd.storage.local import LocalStorage


@dataclass(frozen=True, slots=True)
class Artifact:
    path: Path
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True, slots=True)
class DownloadLink:
    url: str
    expires_at: datetime


class Downloads:
    def __init__(
        self,
        *,
        db: Database,
        exports_service: ExportService,
        storage: LocalStorage,
        secret_key: str,
        token_ttl_s: float,
        clock: Clock | None = None,
    ) -> None:
        self.db = db
        self.exports = exports_service
        self.storage = storage
        self.secret = secret_key.encode()
        self.ttl = timedelta(seconds=token_ttl_s)
        self.clock = clock or SystemClock()

    def artifact(self, principal: Principal, export_id: str) -> Artifact:
        """The owner's (or an admin's) download of a completed export."""
        self._ready(self.exports.get(principal, export_id).status)
        with self.db.write() as conn:
            return self._count_and_locate(conn, export_id)

    def issue(self, principal: Principal, export_id: str) -> DownloadLink:
        """A fresh one-time link (each call makes a new one; older ones stay valid)."""
        self._ready(self.exports.get(principal, export_id).status)
        token_id = secrets.token_urlsafe(12)
        now = self.clock.now()
        expires_at = now + self.ttl
        token = f"{token_id}.{int(expires_at.timestamp())}.{self._sign(token_id, expires_at)}"
        with self.db.write() as conn:
            conn.execute(
                insert(download_tokens).values(
                    id=token_id,
                    export_id=export_id,
                    token_hash=_sha256(token),
                    expires_at=expires_at,
                    created_at=now,
                )
            )
        return DownloadLink(url=f"/v1/downloads/{token}", expires_at=expires_at)

    def redeem(self, token: str) -> Artifact:
        token_id = self._verify(token)
        with self.db.write() as conn:
            row = conn.execute(
                select(download_tokens).where(download_tokens.c.id == token_id)
            ).first()
            if row is None or not hmac.compare_digest(row.token_hash, _sha256(token)):
                raise _invalid()
            used = conn.execute(
                update(download_tokens)
                .where(download_tokens.c.id == token_id, download_tokens.c.used_at.is_(None))
                .values(used_at=self.clock.now())
            ).rowcount
            if not used:
                raise Gone("this download link was already used", code="download_token_used")
            status = self._status(conn, row.export_id)
            if status is ExportStatus.EXPIRED or status is not ExportStatus.COMPLETED:
                raise Gone("the export's file is no longer available", code="export_expired")
            return self._count_and_locate(conn, row.export_id)

    # -- helpers -----------------------------------------------------------------------

    def _sign(self, token_id: str, expires_at: datetime) -> str:
        message = f"{token_id}.{int(expires_at.timestamp())}".encode()
        digest = hmac.new(self.secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def _verify(self, token: str) -> str:
        parts = token.split(".")
        if len(parts) != 3 or not parts[1].isdigit():
            raise _invalid()
        token_id, expiry, signature = parts
        expires_at = datetime.fromtimestamp(int(expiry), UTC)
        if not hmac.compare_digest(signature, self._sign(token_id, expires_at)):
            raise _invalid()
        if expires_at <= self.clock.now():
            raise Gone("this download link has expired", code="download_token_expired")
        return token_id

    def _ready(self, status: ExportStatus) -> None:
        if status is ExportStatus.EXPIRED:
            raise Gone("the export's file is no longer available", code="export_expired")
        if status is not ExportStatus.COMPLETED:
            raise Conflict(
                f"the export is {status}; there is nothing to download yet", code="export_not_ready"
            )

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

    def _count_and_locate(self, conn: Connection, export_id: str) -> Artifact:
        row = conn.execute(select(exports).where(exports.c.id == export_id)).one()
        conn.execute(
            update(exports)
            .where(exports.c.id == export_id)
            .values(download_count=exports.c.download_count + 1)
        )
        return self._artifact(row)

    def _artifact(self, row: Row[Any]) -> Artifact:
        result = row.result or {}
        path = self.storage.path(result.get("key", ""))
        if not result or not path.is_file():
            raise Gone("the export's file is no longer available", code="export_expired")
        return Artifact(
            path=path,
            filename=safe_filename(result.get("filename", "export")),
            content_type=result.get("content_type", "application/octet-stream"),
            size=int(result.get("size", 0)),
        )


def _invalid() -> Forbidden:
    return Forbidden("this download link is not valid", code="download_token_invalid")


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


_UNSAFE = re.compile(r"[^\w.\- ]+", re.UNICODE)


def safe_filename(name: str) -> str:
    """No path separators, control characters or leading dots; never empty."""
    cleaned = _UNSAFE.sub("_", name.replace("/", "_").replace("\\", "_")).strip(" .")
    return cleaned[:200] or "export"

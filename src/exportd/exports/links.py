"""One-time download links: ``<id>.<expiry>.<signature>``, HMAC-SHA256 over id and expiry
with the secret key, so a tampered or forged token is refused before any database
look-up.  Only the token's SHA-256 is stored.

One token, two doors: ``/v1/downloads/<token>`` (for programs: a GET spends it) and
``/exports/downloads/<token>`` (for people, the link emails carry: a GET only shows the
file, a button on that page spends it), so a mail scanner that opens every link before
the user does cannot use up the user's one download."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, insert

from exportd.clock import Clock, SystemClock
from exportd.db.tables import download_tokens
from exportd.errors import Forbidden, Gone

# Seconds since the epoch as minted: ASCII digits (str.isdigit() passes "²", which int()
# refuses), at most 11 of them (year 5138) so no datetime overflows.
_EXPIRY = re.compile(r"[0-9]{1,11}")


API_PREFIX = "/v1/downloads/"
PAGE_PREFIX = "/exports/downloads/"


@dataclass(frozen=True, slots=True)
class DownloadLink:
    url: str  # the API's: a GET spends the token
    expires_at: datetime
    page_url: str  # the landing page's: a GET spends nothing


class DownloadLinks:
    """Signs, stores (hashed) and verifies one-time link tokens."""

    def __init__(self, secret_key: str, ttl_s: float, clock: Clock | None = None) -> None:
        self.secret = secret_key.encode()
        self.ttl = timedelta(seconds=ttl_s)
        self.clock = clock or SystemClock()

    def mint(
        self,
        conn: Connection,
        export_id: str,
        *,
        ttl: timedelta | None = None,
        file: str | None = None,
    ) -> DownloadLink:
        """Store a new link's hash in the caller's transaction; ``file``: the name of one
        of the export's files it downloads (a split's part), else its main file."""
        token_id = secrets.token_urlsafe(12)
        now = self.clock.now()
        expires_at = now + (ttl or self.ttl)
        token = f"{token_id}.{int(expires_at.timestamp())}.{self._sign(token_id, expires_at)}"
        conn.execute(
            insert(download_tokens).values(
                id=token_id,
                export_id=export_id,
                token_hash=token_hash(token),
                file=file,
                expires_at=expires_at,
                created_at=now,
            )
        )
        return DownloadLink(
            url=API_PREFIX + token, expires_at=expires_at, page_url=PAGE_PREFIX + token
        )

    def verify(self, token: str) -> str:
        """The token's id, if its signature holds and it has not expired."""
        parts = token.split(".")
        if len(parts) != 3 or not _EXPIRY.fullmatch(parts[1]):
            raise invalid_token()
        token_id, expiry, signature = parts
        expires_at = datetime.fromtimestamp(int(expiry), UTC)
        # compare_digest takes str only when both are ASCII: compare the UTF-8 bytes.
        if not hmac.compare_digest(signature.encode(), self._sign(token_id, expires_at).encode()):
            raise invalid_token()
        if expires_at <= self.clock.now():
            raise Gone("this download link has expired", code="download_token_expired")
        return token_id

    def _sign(self, token_id: str, expires_at: datetime) -> str:
        message = f"{token_id}.{int(expires_at.timestamp())}".encode()
        digest = hmac.new(self.secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def invalid_token() -> Forbidden:
    return Forbidden("this download link is not valid", code="download_token_invalid")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()

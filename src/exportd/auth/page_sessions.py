"""The page's sessions: a random id in the cookie, the principal on the server.

The cookie holds 256 random bits and nothing else: not the user's token, which would be
a bearer credential for the whole API and could not be taken back.  The table keeps the
id's SHA-256 (a copy of the database holds no usable cookie), the principal the token
named at sign-in, and when the session ends: at the token's own expiry or
``page_session_ttl_s`` after sign-in, whichever comes first.  Signing out deletes the
row, so a copied cookie stops working at once.  Expired rows are swept at each sign-in.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Delete, delete, insert, select

from exportd.auth.principal import Principal
from exportd.clock import Clock, SystemClock
from exportd.db import Database
from exportd.db.tables import page_sessions
from exportd.errors import Unauthenticated


class PageSessions:
    def __init__(self, db: Database, *, ttl_s: float, clock: Clock | None = None) -> None:
        self.db = db
        self.ttl_s = ttl_s
        self.clock = clock or SystemClock()

    def open(
        self, principal: Principal, *, not_after: float | None, replacing: str | None = None
    ) -> str:
        """A new session (never the one the browser had: no fixation); its id for the
        cookie.  ``not_after`` is the token's ``exp`` (POSIX seconds)."""
        now = self.clock.now()
        ends = now.timestamp() + self.ttl_s
        if not_after is not None:
            ends = min(ends, not_after)
        session_id = secrets.token_urlsafe(32)
        with self.db.write() as conn:
            conn.execute(delete(page_sessions).where(page_sessions.c.expires_at <= now))
            if replacing:
                conn.execute(_delete(replacing))
            conn.execute(
                insert(page_sessions).values(
                    id_hash=_hash(session_id),
                    claims=_claims(principal),
                    created_at=now,
                    expires_at=datetime.fromtimestamp(ends, UTC),
                )
            )
        return session_id

    def principal(self, session_id: str) -> Principal:
        """Who the session is for; Unauthenticated once it is closed or expired."""
        with self.db.read_one() as conn:
            row = conn.execute(
                select(page_sessions.c.claims, page_sessions.c.expires_at).where(
                    page_sessions.c.id_hash == _hash(session_id)
                )
            ).first()
        if row is None:
            raise Unauthenticated("the session has ended: sign in again", code="session_ended")
        if row.expires_at <= self.clock.now():
            raise Unauthenticated("the session has expired: sign in again", code="session_expired")
        return _principal(row.claims)

    def close(self, session_id: str) -> None:
        with self.db.write() as conn:
            conn.execute(_delete(session_id))


def _delete(session_id: str) -> Delete:
    return delete(page_sessions).where(page_sessions.c.id_hash == _hash(session_id))


def _hash(session_id: str) -> str:
    # 256 random bits: a plain hash is enough (nothing to guess, nothing to stretch).
    return hashlib.sha256(session_id.encode()).hexdigest()


def _claims(principal: Principal) -> dict[str, Any]:
    claims = {
        "user_id": principal.user_id,
        "plan": principal.plan,
        "email": principal.email,
        "is_admin": principal.is_admin,
    }
    # PostgreSQL's JSON cannot hold NUL: refuse such a token rather than fail on insert.
    if any(isinstance(value, str) and "\x00" in value for value in claims.values()):
        raise Unauthenticated("the token's claims hold a NUL character", code="token_invalid")
    return claims


def _principal(claims: dict[str, Any]) -> Principal:
    return Principal(
        user_id=claims["user_id"],
        plan=claims["plan"],
        email=claims.get("email"),
        is_admin=claims.get("is_admin") is True,
    )

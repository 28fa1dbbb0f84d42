"""API keys for services and admins: ``exk_<id>_<secret>``, shown once, stored hashed.

The id finds the row; the secret's SHA-256 is compared in constant time.  A key is a
random 256-bit secret, so a plain hash is enough (no password stretching needed).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from exportd.auth.principal import Principal, key_owner
from exportd.auth.scopes import ALL as SCOPES
from exportd.auth.scopes import Scope
from exportd.clock import Clock, SystemClock
from exportd.db import Database
from exportd.db.tables import api_keys
from exportd.errors import NotFound, RequestInvalid, Unauthenticated

PREFIX = "exk_"
SERVICE_PLAN = "service"  # no plan row: a service key cannot create exports of its own


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    id: str
    name: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def is_api_key(token: str) -> bool:
    return token.startswith(PREFIX)


class ApiKeys:
    def __init__(self, db: Database, *, clock: Clock | None = None) -> None:
        self.db = db
        self.clock = clock or SystemClock()

    def create(self, name: str, scopes: list[str]) -> str:
        unknown = sorted(set(scopes) - SCOPES)
        if unknown or not scopes:
            raise RequestInvalid(
                f"scopes must be some of {sorted(map(str, SCOPES))}; got {scopes}",
                code="scope_unknown",
            )
        key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        with self.db.write() as conn:
            conn.execute(
                api_keys.insert().values(
                    id=key_id,
                    name=name,
                    secret_hash=_hash(secret),
                    scopes=sorted(set(scopes)),
                    created_at=self.clock.now(),
                )
            )
        return f"{PREFIX}{key_id}_{secret}"

    def verify(self, key: str) -> Principal:
        key_id, _, secret = key.removeprefix(PREFIX).partition("_")
        with self.db.write() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
            if row is None or not hmac.compare_digest(row.secret_hash, _hash(secret)):
                raise Unauthenticated("the API key is not valid", code="api_key_invalid")
            if row.revoked_at is not None:
                raise Unauthenticated("the API key was revoked", code="api_key_revoked")
            conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id)
                .values(last_used_at=self.clock.now())
            )
        scopes = frozenset(row.scopes) & SCOPES  # a scope no longer known grants nothing
        return Principal(
            user_id=key_owner(row.name),
            plan=SERVICE_PLAN,
            is_admin=Scope.ADMIN in scopes,
            scopes=scopes,
        )

    def revoke(self, key_id: str) -> None:
        with self.db.write() as conn:
            done = conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=self.clock.now())
            ).rowcount
        if not done:
            raise NotFound(f"no active API key {key_id}", code="api_key_not_found")

    def list_keys(self) -> list[ApiKeyInfo]:
        with self.db.read() as conn:
            rows = conn.execute(select(api_keys).order_by(api_keys.c.created_at)).all()
        return [
            ApiKeyInfo(r.id, r.name, r.scopes, r.created_at, r.last_used_at, r.revoked_at)
            for r in rows
        ]


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()

"""Transaction-scoped locks that serialise work per key on PostgreSQL.

SQLite needs none: write transactions begin IMMEDIATE, so writers already go one at a
time.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import Connection, text


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key (PostgreSQL's bigint advisory lock space)."""
    digest = hashlib.blake2b(f"exportd:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


def lock_for_transaction(conn: Connection, name: str) -> None:
    """Hold ``name`` until the transaction ends; concurrent holders queue up."""
    if conn.dialect.name == "postgresql":
        conn.execute(_LOCK, {"key": advisory_key(name)})

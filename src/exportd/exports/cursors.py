"""The list's page cursor and time filters: opaque to clients, strict when read back.

Times are compared in UTC.  A time without an offset (``2026-01-01`` or
``2026-01-01T09:00:00``) is taken as UTC, in a filter and in a cursor alike; one that
cannot be expressed in UTC (``0001-01-01T00:00:00+05:00``) is refused with 422.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime

from exportd.errors import RequestInvalid


def utc(value: datetime, *, field: str) -> datetime:
    """The same instant, aware and in UTC (a naive value is read as UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise RequestInvalid(
            f"{field} is outside the years 1 to 9999 in UTC",
            code="datetime_out_of_range",
            errors=[{"field": field, "message": "outside the years 1 to 9999 in UTC"}],
        ) from None


def encode(created_at: datetime, export_id: str) -> str:
    raw = f"{created_at.isoformat()}|{export_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str) -> tuple[datetime, str]:
    """The (created_at, id) a page ended at; ``cursor_invalid`` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, export_id = raw.split("|", 1)
        if not export_id.isascii() or not export_id.isprintable():
            raise ValueError("an id is printable ASCII")  # PostgreSQL text holds no NUL
        created_at = datetime.fromisoformat(created)
        if created_at.tzinfo is None:
            created_at = created_at.replace(tzinfo=UTC)
        return created_at.astimezone(UTC), export_id
    except (ValueError, UnicodeDecodeError, binascii.Error, OverflowError):
        raise RequestInvalid("the cursor is not valid", code="cursor_invalid") from None

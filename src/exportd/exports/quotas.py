"""Byte quotas from the plan: what a user keeps in storage, and exports per day.

Checked when an export is asked for (refused early with a code that names the limit)
and again when its file is complete (a result that would exceed fails, and the file is
discarded before it is ever stored).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Label,
    bindparam,
    func,
    literal_column,
    select,
)

from exportd.db.tables import exports, owner_usage, owner_usage_slots
from exportd.errors import Forbidden, LimitReached, TerminalJobError
from exportd.exports.models import PlanLimits


# Literal lists, so the planners see the partial index's own condition.
def _literals(*statuses: str) -> list[ColumnElement[str]]:
    return [literal_column(f"'{status}'") for status in statuses]


_STORED = _literals("completed", "failed")
_FINISHED = _literals("completed", "expired", "failed")
# The ledger's slots (migration 0019): a day's window starts inside one of them.
SLOT = timedelta(minutes=10)


def _size(c: Any) -> ColumnElement[Any]:
    # What a result keeps in storage: a split export's parts, manifest and signature are
    # ``stored_bytes`` (its ``size`` is the manifest's, the file its main link downloads).
    # BIGINT: a file of 2 GiB or more overflowed PostgreSQL's INTEGER (the read failed).
    stored, size = (c.result[key].as_string().cast(BigInteger) for key in ("stored_bytes", "size"))
    return func.coalesce(stored, size)


def usage_columns(owner_id: ColumnElement[Any]) -> tuple[Label[Any], Label[Any]]:
    """``stored`` and ``today`` (as :func:`stored_and_today` counts them) as columns of
    another statement, for the owner ``owner_id`` names (a column of that statement's
    rows, or a parameter); execute it with :func:`usage_params`.

    Both come from the ledger the triggers of migration 0019 keep, so a check costs the
    same for an owner of ten exports and of ten thousand.  Stored: the ledger's bytes
    less the files past their expiry that the cleanup has not swept yet.  Exported: the
    whole slots after the window's start, and the exports of its first, partial slot.
    """
    c = exports.alias("owned").c
    size = _size(c)
    ledger = select(owner_usage.c.stored_bytes).where(owner_usage.c.owner_id == owner_id)
    past_expiry = select(func.coalesce(func.sum(size), 0)).where(
        c.owner_id == owner_id,
        c.status.in_(_STORED),
        c.deleted_at.is_(None),
        c.expires_at <= bindparam("now"),
    )
    stored = func.coalesce(ledger.scalar_subquery(), 0) - past_expiry.scalar_subquery()
    slots = owner_usage_slots.c
    whole_slots = select(func.coalesce(func.sum(slots.bytes), 0)).where(
        slots.owner_id == owner_id, slots.slot_start >= bindparam("slot_after")
    )
    first_slot = select(func.coalesce(func.sum(size), 0)).where(
        c.owner_id == owner_id,
        c.status.in_(_FINISHED),  # failed: partial files
        c.updated_at >= bindparam("since"),
        c.updated_at < bindparam("slot_after"),
    )
    today = whole_slots.scalar_subquery() + first_slot.scalar_subquery()
    return stored.label("stored"), today.label("today")


# Built once, both in one round trip: each export is checked three times (asked for, file
# complete, settled), and building the statement cost more than running it.
_BOTH = select(*usage_columns(bindparam("owner_id")))


def usage_params(now: datetime) -> dict[str, datetime]:
    since = now - timedelta(days=1)
    return {"now": now, "since": since, "slot_after": slot_of(since) + SLOT}


def slot_of(moment: datetime) -> datetime:
    """The start of the ledger slot ``moment`` (UTC) falls in, as the triggers cut it."""
    moment = moment.astimezone(UTC)
    return moment.replace(minute=moment.minute - moment.minute % 10, second=0, microsecond=0)


def prune_slots(conn: Connection, now: datetime) -> int:
    """Drop the ledger's slots no window reaches any more (a day, and a day to spare)."""
    old = owner_usage_slots.c.slot_start < now - timedelta(days=2)
    return conn.execute(owner_usage_slots.delete().where(old)).rowcount


def stored_and_today(conn: Connection, owner_id: str, now: datetime) -> tuple[int, int]:
    """Bytes of the owner's files still in storage (completed, or failed with a partial
    file kept; not expired, not deleted) and of the exports completed in the last 24 hours,
    in one round trip."""
    row = conn.execute(_BOTH, {"owner_id": owner_id, **usage_params(now)}).one()
    return int(row.stored), int(row.today)


def scanned_usage(conn: Connection, owner_id: str, now: datetime) -> tuple[int, int]:
    """``stored_and_today`` summed over the owner's exports themselves, as it was before
    the ledger: the reference the ledger must equal (its tests and bench/quota_usage.py
    compare the two).  Slow for an owner of many exports: not for the request path."""
    c = exports.c
    size = _size(c)
    stored = select(func.coalesce(func.sum(size), 0)).where(
        c.owner_id == owner_id,
        c.status.in_(["completed", "failed"]),
        c.deleted_at.is_(None),
        c.expires_at > now,
    )
    today = select(func.coalesce(func.sum(size), 0)).where(
        c.owner_id == owner_id,
        c.status.in_(["completed", "expired", "failed"]),
        c.updated_at >= now - timedelta(days=1),
    )
    row = conn.execute(select(stored.scalar_subquery(), today.scalar_subquery())).one()
    return int(row[0]), int(row[1])


def check_usage(usage: tuple[int, int], plan: PlanLimits) -> None:
    """Room for a new export in the plan's quotas, given the owner's ``usage`` (stored,
    today), or the error that names the quota used up."""
    stored, today = usage
    if stored >= plan.storage_quota_bytes:
        raise Forbidden(
            f"the {plan.name} plan stores {plan.storage_quota_bytes} bytes of exports and "
            "that is used up; delete some exports first",
            code="storage_quota_exceeded",
        )
    if today >= plan.daily_export_bytes:
        raise LimitReached(
            f"the {plan.name} plan exports {plan.daily_export_bytes} bytes a day and that "
            "is used up",
            code="daily_export_bytes_exceeded",
            retry_after_s=3600,
        )


def check_result(
    conn: Connection, owner_id: str, plan: PlanLimits, size: int, now: datetime
) -> None:
    check_size(stored_and_today(conn, owner_id, now), plan, size)


def check_size(usage: tuple[int, int], plan: PlanLimits, size: int) -> None:
    """A ``size``-byte file on top of ``usage`` (stored, today) fits the plan, or the
    error that says which quota it would pass."""
    stored, today = usage
    if stored + size > plan.storage_quota_bytes:
        raise TerminalJobError(
            f"this {size}-byte file would exceed the {plan.name} plan's storage of "
            f"{plan.storage_quota_bytes} bytes",
            code="storage_quota_exceeded",
        )
    if today + size > plan.daily_export_bytes:
        raise TerminalJobError(
            f"this {size}-byte file would exceed the {plan.name} plan's "
            f"{plan.daily_export_bytes} bytes a day",
            code="daily_export_bytes_exceeded",
        )

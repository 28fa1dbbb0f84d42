"""Byte quotas from the plan: what a user keeps in storage, and exports per day.

Checked when an export is asked for (refused early with a code that names the limit)
and again when its file is complete (a result that would exceed fails, and the file is
discarded before it is ever stored).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, FromClause, Label, bindparam, func, select

from exportd.db.tables import exports
from exportd.errors import Forbidden, LimitReached, TerminalJobError
from exportd.exports.models import PlanLimits


def _usage(table: FromClause, owner_id: ColumnElement[Any]) -> tuple[Label[Any], Label[Any]]:
    """The bytes ``owner_id`` keeps in storage and those exported since ``:since``, as
    two columns (parameters ``now`` and ``since``)."""
    c = table.c
    # What a result keeps in storage: a split export's parts, manifest and signature are
    # ``stored_bytes`` (its ``size`` is the manifest's, the file its main link downloads).
    size = func.coalesce(c.result["stored_bytes"].as_integer(), c.result["size"].as_integer())
    stored = select(func.coalesce(func.sum(size), 0)).where(
        c.owner_id == owner_id,
        c.status.in_(["completed", "failed"]),
        c.deleted_at.is_(None),
        c.expires_at > bindparam("now"),
    )
    since = select(func.coalesce(func.sum(size), 0)).where(
        c.owner_id == owner_id,
        c.status.in_(["completed", "expired", "failed"]),  # failed: partial files
        c.updated_at >= bindparam("since"),
    )
    return stored.scalar_subquery().label("stored"), since.scalar_subquery().label("today")


# Built once, both in one round trip: each export is checked three times (asked for, file
# complete, settled), and building the statement cost more than running it.
_BOTH = select(*_usage(exports, bindparam("owner_id")))


def usage_columns(owner_id: ColumnElement[Any]) -> tuple[Label[Any], Label[Any]]:
    """``stored`` and ``today`` (as :func:`stored_and_today` counts them) as columns of
    another statement, for the owner ``owner_id`` names (a column of that statement's
    rows, or a parameter); execute it with :func:`usage_params`."""
    return _usage(exports.alias("owned"), owner_id)


def usage_params(now: datetime) -> dict[str, datetime]:
    return {"now": now, "since": now - timedelta(days=1)}


def stored_and_today(conn: Connection, owner_id: str, now: datetime) -> tuple[int, int]:
    """Bytes of the owner's files still in storage (completed, or failed with a partial
    file kept; not expired, not deleted) and of the exports completed in the last 24 hours,
    in one round trip."""
    row = conn.execute(_BOTH, {"owner_id": owner_id, **usage_params(now)}).one()
    return int(row.stored), int(row.today)


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

"""Byte quotas from the plan: what a user keeps in storage, and exports per day.

Checked when an export is asked for (refused early with a code that names the limit)
and again when its file is complete (a result that would exceed fails, and the file is
discarded before it is ever stored).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, func, select

from exportd.db.tables import exports
from exportd.errors import Forbidden, LimitReached, TerminalJobError
from exportd.exports.models import PlanLimits

# What a result keeps in storage: a split export's parts, manifest and signature are
# ``stored_bytes`` (its ``size`` is the manifest's, the file its main link downloads).
_SIZE = func.coalesce(
    exports.c.result["stored_bytes"].as_integer(), exports.c.result["size"].as_integer()
)


# Built once: each export reads both three times (asked for, file complete, settled), and
# building the statement cost more than running it (a small export's worker time, measured).
_STORED_BYTES = select(func.coalesce(func.sum(_SIZE), 0)).where(
    exports.c.owner_id == bindparam("owner_id"),
    exports.c.status.in_(["completed", "failed"]),
    exports.c.deleted_at.is_(None),
    exports.c.expires_at > bindparam("now"),
)
_BYTES_SINCE = select(func.coalesce(func.sum(_SIZE), 0)).where(
    exports.c.owner_id == bindparam("owner_id"),
    exports.c.status.in_(["completed", "expired", "failed"]),  # failed: partial files
    exports.c.updated_at >= bindparam("since"),
)


# Both in one round trip: each export is checked three times (asked for, written, kept).
_BOTH = select(
    _STORED_BYTES.scalar_subquery().label("stored"), _BYTES_SINCE.scalar_subquery().label("today")
)


def stored_and_today(conn: Connection, owner_id: str, now: datetime) -> tuple[int, int]:
    """Bytes of the owner's files still in storage (completed, or failed with a partial
    file kept; not expired, not deleted) and of the exports completed in the last 24 hours,
    in one round trip."""
    row = conn.execute(
        _BOTH, {"owner_id": owner_id, "now": now, "since": now - timedelta(days=1)}
    ).one()
    return int(row.stored), int(row.today)


def check_before(conn: Connection, owner_id: str, plan: PlanLimits, now: datetime) -> None:
    stored, today = stored_and_today(conn, owner_id, now)
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
    stored, today = stored_and_today(conn, owner_id, now)
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

"""``skip_if_empty``: a schedule's run whose source has no rows ends ``skipped``, with no
file and no notification (a weekly "new orders" export sends nothing on a quiet week).

The worker looks before it writes: the source's count, or, for a source that cannot
count cheaply, its first row.  Then the settle hook records the export as skipped (its
job completed; the export row keeps ``completed`` with its ``skipped`` flag, which the
read model shows as the ``skipped`` status).
"""

from __future__ import annotations

from contextlib import closing
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, Row, update

from exportd.db import Database
from exportd.db.tables import exports
from exportd.ops import events
from exportd.ops.events import EventKind
from exportd.sources import TabularSource
from exportd.sources.connections import DataConnection

SKIPPED_RESULT = {"skipped": True, "row_count": 0}


def has_no_rows(
    reads: Database | DataConnection, source: TabularSource, owner_id: str, params: BaseModel
) -> bool:
    with reads.read() as conn:
        counted = source.count(conn, owner_id, params)
        if counted is not None:
            return counted == 0
        names = source.column_names()[:1]
        batches = source.batches(conn, owner_id, params, names, batch_size=1)
        with closing(batches):  # type: ignore[type-var]
            return not any(batch.num_rows for batch in batches)


def is_skipped(result: dict[str, Any] | None) -> bool:
    return bool(result and result.get("skipped"))


def record_skipped(
    conn: Connection, export: Row[Any], now: datetime, *, attempt: int, detail: dict[str, Any]
) -> None:
    """The export ends skipped: no result, no expiry, no deliveries; one event."""
    conn.execute(
        update(exports)
        .where(exports.c.id == export.id)
        .values(status="completed", skipped=True, result=None, updated_at=now)
    )
    events.record(conn, EventKind.SKIPPED, now, export=export, attempt=attempt, detail=detail)

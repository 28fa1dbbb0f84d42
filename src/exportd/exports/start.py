"""What an export's child reads as it starts, in one round trip: the export, its plan and
its owner's usage.  A small export's child made three reads (the export, the plan, and
the quota once its file was written), each a round trip in a job of a few milliseconds.
Now the supervisor reads it for the exports it claims, in the claiming transaction (it
read the exports there anyway, for their STARTED events), and hands it to the child
with the job (its claim note): the child reads it itself only without one.

The usage read at the start decides whether a file finished soon after fits the quota:
the supervisor decides again, under the owner's lock, as it keeps the file, so this
check only spares a file that cannot be kept.  A file finished later, or one the old
usage would refuse (the owner may have deleted exports since), reads the usage again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, bindparam, select

from exportd.db.tables import exports, plan_limits
from exportd.errors import TerminalJobError
from exportd.exports.models import PlanLimits
from exportd.exports.plans import PLAN_COLUMNS, plan_in
from exportd.exports.quotas import check_result, check_size, usage_columns, usage_params

# How old the start's usage may be and still decide.
USAGE_FRESH = timedelta(seconds=1)

# An export's plan is a foreign key: the join finds it.  Built once (each export runs
# it): building and hashing it cost more than running it.
_STARTING = select(exports, *PLAN_COLUMNS, *usage_columns(exports.c.owner_id)).select_from(
    exports.join(plan_limits, plan_limits.c.name == exports.c.plan)
)
_START = _STARTING.where(exports.c.id == bindparam("export_id"))
_STARTS = _STARTING.where(exports.c.job_id.in_(bindparam("job_ids", expanding=True)))


@dataclass(frozen=True, slots=True)
class Start:
    export: Row[Any]
    plan: PlanLimits
    usage: tuple[int, int]  # the owner's stored bytes and bytes of the last day
    read_at: datetime

    def check_file(self, conn: Connection, size: int, now: datetime) -> None:
        """A ``size``-byte file fits the owner's quotas, or a TerminalJobError names the one
        it would pass."""
        if now - self.read_at < USAGE_FRESH:
            try:
                check_size(self.usage, self.plan, size)
                return
            except TerminalJobError:
                pass  # usage may have fallen since: read it again
        check_result(conn, self.export.owner_id, self.plan, size, now)


def read_start(conn: Connection, export_id: str, now: datetime) -> Start:
    export = conn.execute(_START, {"export_id": export_id, **usage_params(now)}).first()
    if export is None:
        raise TerminalJobError("the export no longer exists", code="export_not_found")
    return _start_of(export, now)


def read_starts(conn: Connection, job_ids: list[int], now: datetime) -> dict[int, Start]:
    """The starts of the exports of these jobs (an export job's claim), by job id."""
    params = {"job_ids": job_ids, **usage_params(now)}
    return {row.job_id: _start_of(row, now) for row in conn.execute(_STARTS, params)}


def _start_of(export: Row[Any], now: datetime) -> Start:
    return Start(export, plan_in(export), (int(export.stored), int(export.today)), now)

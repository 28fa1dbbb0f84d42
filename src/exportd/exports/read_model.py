"""The read model: an export as its owner sees it, merged from its row and its job's.

While the job lives its state is the truth; once settled, the export row keeps the final
word (see :func:`status_of`, and :func:`status_is`, its SQL twin for filtering lists).
Every query of exports joined with their jobs is built here, "active exports" included,
so the service, the documents store and the usage report count them alike.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any, NamedTuple, TypedDict, Unpack

from sqlalchemy import Connection, Row, Select, and_, bindparam, func, or_, select

from exportd.auth.principal import Principal
from exportd.clock import Clock, SystemClock
from exportd.db import Database
from exportd.db.tables import exports, jobs, plan_limits
from exportd.errors import NotFound
from exportd.exports import cursors
from exportd.exports.cursors import utc
from exportd.exports.models import ExportStatus, ExportView, Page, PlanLimits
from exportd.exports.plans import PLAN_COLUMNS, limits_of, plan_for, plan_in, unknown_plan
from exportd.exports.quotas import usage_columns, usage_params
from exportd.exports.row_cache import RowCache
from exportd.exports.task import EXPORT_TASK
from exportd.ops import metrics
from exportd.queue import Job, JobState

ACTIVE_JOB_STATES = (JobState.QUEUED.value, JobState.RUNNING.value)

# Built once: constructing this select costs more than running it on SQLite.
JOINED = select(
    exports,
    jobs.c.state.label("job_state"),
    jobs.c.progress.label("job_progress"),
    jobs.c.error.label("job_error"),
    jobs.c.result.label("job_result"),
    jobs.c.started_at.label("job_started_at"),
    jobs.c.finished_at.label("job_finished_at"),
    jobs.c.updated_at.label("job_updated_at"),
    jobs.c.attempts_used.label("job_attempts_used"),
    jobs.c.max_attempts.label("job_max_attempts"),
    jobs.c.run_after.label("job_run_after"),
).select_from(exports.outerjoin(jobs, jobs.c.id == exports.c.job_id))
# One export, or several, by id: every create and poll reads one of these.
JOINED_BY_ID = JOINED.where(exports.c.id == bindparam("export_id"))
# The job's columns JOINED reads, each labelled "job_<column>".
_JOB_COLUMNS = [
    key.removeprefix("job_")
    for key in JOINED.selected_columns.keys()  # noqa: SIM118 (iterating gives columns)
    if key.startswith("job_") and key not in exports.c
]
JOINED_BY_IDS = JOINED.where(exports.c.id.in_(bindparam("export_ids", expanding=True)))


class ExportReads:
    """Exports as their owners see them: one, a page of them, the plan and its usage."""

    def __init__(
        self, *, db: Database, clock: Clock | None = None, row_cache: RowCache | None = None
    ) -> None:
        self.db = db
        self.clock = clock or SystemClock()
        # Rows between polls (off unless a change feed made it live): see row_cache.py.
        self.row_cache = row_cache if row_cache is not None else RowCache(max_rows=0)
        db.after_write(self.row_cache.forget_all)  # what this process wrote shows at once

    # -- read --------------------------------------------------------------------------

    def get(self, principal: Principal, export_id: str) -> ExportView:
        view = self.cached(principal, export_id)
        return view if view is not None else self.fetch(principal, export_id)

    def cached(self, principal: Principal, export_id: str) -> ExportView | None:
        """The export from the row cache, or None (then ``fetch``).  Never blocks on the
        database: the API answers hits on its event loop."""
        row = self.row_cache.get(export_id)
        if row is None:
            return None
        metrics.POLL_CACHE_HITS.inc()
        return self._view(visible(row, principal, export_id))

    def fetch(self, principal: Principal, export_id: str) -> ExportView:
        """The export from the database, its row kept for the next poll."""
        metrics.POLL_CACHE_MISSES.inc()
        generation = self.row_cache.generation
        with self.db.read_one() as conn:  # one statement: no transaction around it
            row = conn.execute(JOINED_BY_ID, {"export_id": export_id}).first()
        if row is not None:
            self.row_cache.put(export_id, row, generation=generation)
        return self._view(visible(row, principal, export_id))

    def rows(self, export_ids: list[str]) -> dict[str, Row[Any]]:
        """Several exports' rows in one query (long polls look at theirs together); one
        that is gone is left out.  See :func:`version_of` and :meth:`view_of_row`.

        Kept for the next poll as ``fetch`` keeps its row: a client a long poll answers
        asks again at once, and is answered from the cache."""
        generation = self.row_cache.generation
        with self.db.read_one() as conn:
            found = conn.execute(JOINED_BY_IDS, {"export_ids": export_ids}).all()
        for row in found:
            self.row_cache.put(row.id, row, generation=generation)
        return {row.id: row for row in found}

    def view_of_row(self, principal: Principal, export_id: str, row: Row[Any]) -> ExportView:
        """The export from a row read by :meth:`rows`, as ``get`` would show it."""
        return self._view(visible(row, principal, export_id))

    def list_exports(
        self,
        principal: Principal,
        *,
        limit: int = 50,
        cursor: str | None = None,
        with_stats: bool = False,
        **filters: Unpack[ExportFilters],
    ) -> Page:
        now = self.clock.now()
        query = listing(principal, now=now, cursor=cursor, **filters)
        with self.db.read() as conn:
            rows = conn.execute(query.limit(limit + 1)).all()
            counts = count_by_status(conn, principal, now) if with_stats else None
        items = [self._view(row) for row in rows[:limit]]
        next_cursor = (
            cursors.encode(items[-1].created_at, items[-1].id) if len(rows) > limit else None
        )
        return Page(items, next_cursor, counts)

    def failed(self, principal: Principal, *, limit: int = 50) -> list[ExportView]:
        """The dead letter: the caller's failed exports (an admin's: everyone's)."""
        return self.list_exports(principal, status=ExportStatus.FAILED, limit=limit).items

    def plan(self, principal: Principal) -> PlanLimits:
        """The principal's plan limits alone (one read; usage() counts as well)."""
        with self.db.read_one() as conn:
            return plan_for(conn, principal.plan)

    def usage(self, principal: Principal) -> dict[str, Any]:
        with self.db.read() as conn:
            plan = plan_for(conn, principal.plan)
            return usage_of(conn, plan, principal.user_id, self.clock.now())

    def _view(self, row: Row[Any]) -> ExportView:
        return view_of(row, self.clock.now())


def active_exports(*columns: Any) -> Select[Any]:
    """``columns`` of the exports whose job is queued or running (none deleted: an active
    export is cancelled, never deleted)."""
    return (
        select(*columns)
        .select_from(exports.join(jobs, jobs.c.id == exports.c.job_id))
        .where(exports.c.deleted_at.is_(None), jobs.c.state.in_(ACTIVE_JOB_STATES))
    )


def _active_of(owner_id: Any) -> Select[Any]:
    # From the owner's active export jobs (ix_jobs_fair_key: fair key, then state; an
    # export's job carries its owner as fair key), less any whose export was deleted (a
    # failed export's job an operator retried with `exportd jobs retry`, then deleted):
    # one look-up by job id each.  Joined the other way, a fresh database's plan (no
    # statistics yet) visited every job of the owner once per export of theirs.
    deleted = select(exports.c.id).where(
        exports.c.job_id == jobs.c.id, exports.c.deleted_at.is_not(None)
    )
    return select(func.count()).where(
        jobs.c.fair_key == owner_id,
        jobs.c.state.in_(ACTIVE_JOB_STATES),
        jobs.c.task == EXPORT_TASK,
        ~deleted.exists(),
    )


def active_count(conn: Connection, owner_id: str) -> int:
    return int(conn.execute(_active_of(owner_id)).scalar_one())


# Every create reads both: one round trip.
_ACTIVE_AND_USAGE = select(
    _active_of(bindparam("owner_id")).scalar_subquery().label("active"),
    *usage_columns(bindparam("owner_id")),
)


class Room(NamedTuple):
    """What a create decides by: the plan, and its owner's active exports and usage."""

    plan: PlanLimits
    active: int
    usage: tuple[int, int]  # bytes stored, bytes exported in the last day


# A create reads all three at once: one round trip.
_PLAN_AND_ROOM = select(*PLAN_COLUMNS, *_ACTIVE_AND_USAGE.selected_columns).where(
    plan_limits.c.name == bindparam("plan_name")
)


def plan_and_room(conn: Connection, plan_name: str, owner_id: str, now: datetime) -> Room:
    params = {"plan_name": plan_name, "owner_id": owner_id, **usage_params(now)}
    row = conn.execute(_PLAN_AND_ROOM, params).first()
    if row is None:
        raise unknown_plan(plan_name)
    return Room(plan_in(row), int(row.active), (int(row.stored), int(row.today)))


def active_and_usage(conn: Connection, owner_id: str, now: datetime) -> tuple[int, tuple[int, int]]:
    """The owner's active exports, and bytes stored and exported in the last day."""
    row = conn.execute(_ACTIVE_AND_USAGE, {"owner_id": owner_id, **usage_params(now)}).one()
    return int(row.active), (int(row.stored), int(row.today))


def visible_to(principal: Principal) -> Any:
    alive = exports.c.deleted_at.is_(None)
    return alive if principal.is_admin else and_(alive, exports.c.owner_id == principal.user_id)


def joined_row(export: Row[Any], job: Job) -> Any:
    """An export just inserted (its row as its INSERT returned it) with its job, as
    ``JOINED`` would read them: a create answers without reading back what it wrote."""
    values = dict(export._mapping)
    for name in _JOB_COLUMNS:
        value = getattr(job, name)
        values[f"job_{name}"] = value.value if isinstance(value, JobState) else value
    return SimpleNamespace(**values)


def version_of(row: Row[Any]) -> datetime:
    """A joined row's last change: its view's ``updated_at``."""
    changed: datetime = max(filter(None, [row.updated_at, row.job_updated_at]))
    return changed


def visible(row: Row[Any] | None, principal: Principal, export_id: str) -> Row[Any]:
    """``visible_to`` on a row in hand.  Another user's export is "not found", never
    "forbidden": ids reveal nothing."""
    if (
        row is None
        or row.deleted_at is not None
        or not (principal.is_admin or row.owner_id == principal.user_id)
    ):
        raise NotFound(f"no export {export_id}", code="export_not_found")
    return row


class ExportFilters(TypedDict, total=False):
    """What a list of exports may be filtered by (each one narrows it)."""

    status: ExportStatus | None
    source: str | None
    format: str | None
    created_from: datetime | None
    created_to: datetime | None
    id_prefix: str | None
    schedule_id: str | None


def listing(
    principal: Principal,
    *,
    now: datetime,
    cursor: str | None = None,
    **filters: Unpack[ExportFilters],
) -> Select[Any]:
    """The principal's exports, newest first, filtered; from ``cursor`` on."""
    query = JOINED.where(visible_to(principal)).order_by(
        exports.c.created_at.desc(), exports.c.id.desc()
    )
    status, source, format = filters.get("status"), filters.get("source"), filters.get("format")
    created_from, created_to = filters.get("created_from"), filters.get("created_to")
    id_prefix, schedule_id = filters.get("id_prefix"), filters.get("schedule_id")
    if schedule_id is not None:
        query = query.where(exports.c.schedule_id == schedule_id)
    if source is not None:
        query = query.where(exports.c.source == source)
    if format is not None:
        query = query.where(exports.c.format == format)
    if created_from is not None:
        query = query.where(exports.c.created_at >= utc(created_from, field="created_from"))
    if created_to is not None:
        query = query.where(exports.c.created_at < utc(created_to, field="created_to"))
    if id_prefix is not None:
        query = query.where(exports.c.id.startswith(id_prefix, autoescape=True))
    if status is not None:
        query = query.where(status_is(status, now))
    if cursor is not None:
        created_at, last_id = cursors.decode(cursor)
        query = query.where(
            or_(
                exports.c.created_at < created_at,
                and_(exports.c.created_at == created_at, exports.c.id < last_id),
            )
        )
    return query


def count_by_status(conn: Connection, principal: Principal, now: datetime) -> dict[str, int]:
    """How many of the principal's exports are in each status."""
    rows = conn.execute(
        JOINED.where(visible_to(principal)).with_only_columns(
            exports.c.status,
            jobs.c.state.label("job_state"),
            exports.c.expires_at,
            exports.c.skipped,
        )
    ).all()
    counts = {status.value: 0 for status in ExportStatus}
    for row in rows:
        counts[status_of(row.status, row.job_state, row.expires_at, now, row.skipped).value] += 1
    return counts


def usage_of(conn: Connection, plan: PlanLimits, owner_id: str, now: datetime) -> dict[str, Any]:
    """The plan's limits, what the owner uses of them, and what remains."""
    active, (stored, exported) = active_and_usage(conn, owner_id, now)
    today = conn.execute(
        select(func.count()).where(
            exports.c.owner_id == owner_id, exports.c.created_at >= now - timedelta(days=1)
        )
    ).scalar_one()
    return {
        "plan": plan.name,
        "limits": limits_of(plan),
        "usage": {
            "active_exports": active,
            "exports_last_24h": today,
            "stored_bytes": stored,
            "exported_bytes_last_24h": exported,
        },
        "remaining": {
            "active_exports": max(plan.max_active_jobs - active, 0),
            "stored_bytes": max(plan.storage_quota_bytes - stored, 0),
            "exported_bytes_today": max(plan.daily_export_bytes - exported, 0),
        },
    }


def view_of(row: Row[Any], now: datetime) -> ExportView:
    """A row of ``JOINED`` as its owner sees it."""
    status = status_of(row.status, row.job_state, row.expires_at, now, row.skipped)
    job_error = row.job_error if status is ExportStatus.FAILED else None
    # While the job lives, its error is the last failed attempt's: it will be retried.
    retrying = status.is_active and row.job_error is not None
    updated = version_of(row)
    return ExportView(
        id=row.id,
        owner_id=row.owner_id,
        plan=row.plan,
        source=row.source,
        format=row.format,
        params=row.params,
        columns=row.columns,
        template=row.template,
        notify=row.notify,
        options=row.options,
        status=status,
        progress=_progress(status, row.job_progress, row.result or row.job_result),
        error=row.error or job_error,
        result=row.result or (row.job_result if status is ExportStatus.COMPLETED else None),
        correlation_id=row.correlation_id,
        retries=row.retries,
        created_at=row.created_at,
        updated_at=updated,
        started_at=row.job_started_at,
        finished_at=row.job_finished_at,
        expires_at=row.expires_at,
        download_count=row.download_count,
        last_downloaded_at=row.last_downloaded_at,
        attempts=row.job_attempts_used or 0,
        max_attempts=row.job_max_attempts,
        last_attempt_error=row.job_error if retrying else None,
        next_attempt_at=(
            row.job_run_after
            if retrying and status is ExportStatus.QUEUED and row.job_run_after > now
            else None
        ),
        schedule_id=row.schedule_id,
        destinations=destinations_of(row, status),
    )


def destinations_of(row: Row[Any], status: ExportStatus) -> list[dict[str, Any]] | None:
    """Each destination asked for with its delivery: pending until the export completes
    and its delivery is sent or dead; skipped when the export ended without a file."""
    if not row.destinations:
        return None
    entries = row.destination_status or {}
    waiting = "pending" if status.is_active or status is ExportStatus.COMPLETED else "skipped"
    shown = []
    for destination_id in row.destinations:
        entry = entries.get(destination_id) or {}
        shown.append(
            {
                "id": destination_id,
                "status": entry.get("status", waiting),
                "name": entry.get("name"),
                "kind": entry.get("kind"),
                "remote_key": entry.get("remote_key"),
                "files": entry.get("files"),
                "error": entry.get("error"),
                "attempts": entry.get("attempts", 0),
                "delivery_id": entry.get("delivery_id"),
            }
        )
    return shown


def status_of(
    stored: str,
    job_state: str | None,
    expires_at: datetime | None,
    now: datetime,
    skipped: bool = False,
) -> ExportStatus:
    """The job is the truth while it lives; the export row keeps the final word after
    (a skipped run is stored ``completed`` with its ``skipped`` flag)."""
    status = ExportStatus(stored)
    if status.is_active and job_state is not None:
        status = ExportStatus(job_state)
    if status is ExportStatus.COMPLETED and skipped:
        return ExportStatus.SKIPPED
    if status is ExportStatus.COMPLETED and expires_at is not None and expires_at <= now:
        return ExportStatus.EXPIRED
    return status


def status_is(status: ExportStatus, now: datetime) -> Any:
    """The SQL twin of ``status_of``, for filtering lists by status."""
    stored_active = exports.c.status.in_(["queued", "running"])
    if status is ExportStatus.SKIPPED:
        return and_(exports.c.status == ExportStatus.COMPLETED.value, exports.c.skipped)
    if status is ExportStatus.EXPIRED:
        return and_(
            status_is(ExportStatus.COMPLETED, now).self_group(), exports.c.expires_at <= now
        )
    live = and_(stored_active, jobs.c.state == status.value)
    settled = and_(~stored_active, exports.c.status == status.value)
    orphan = and_(stored_active, jobs.c.state.is_(None), exports.c.status == status.value)
    condition = or_(live, settled, orphan)
    if status is ExportStatus.COMPLETED:
        not_expired = or_(exports.c.expires_at.is_(None), exports.c.expires_at > now)
        return and_(condition.self_group(), not_expired, ~exports.c.skipped)
    return condition


def _progress(
    status: ExportStatus, job_progress: dict[str, Any] | None, result: dict[str, Any] | None
) -> dict[str, Any]:
    progress = dict(job_progress or {})
    done, total = progress.get("rows_done"), progress.get("rows_total")
    percent = progress.get("percent")
    if percent is None and done is not None and total:
        percent = round(100 * done / total, 1)
    if status is ExportStatus.COMPLETED:
        # Progress reports are throttled; the result has the final count.
        percent = 100.0
        if result and "row_count" in result:
            done = total = result["row_count"]
    return {"percent": percent, "rows_done": done, "rows_total": total}

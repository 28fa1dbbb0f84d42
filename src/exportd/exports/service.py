"""The export service: every rule about exports, and no HTTP.

Each write runs in one transaction that first takes a per-owner lock (PostgreSQL:
an advisory lock; SQLite: its single write lock), so limit checks and idempotency
checks cannot race: two requests for the last active slot, or with the same
idempotency key, are decided one after the other.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, Row, and_, func, insert, null, or_, select, update

from exportd.auth.principal import Principal
from exportd.clock import Clock, SystemClock
from exportd.config import Settings
from exportd.db import Database
from exportd.db.locks import lock_for_transaction
from exportd.db.tables import exports, jobs
from exportd.delivery import webhooks
from exportd.documents.precheck import check_document
from exportd.documents.render import PDF_STANDARDS, engine_of
from exportd.documents.templates import builtin_catalogue
from exportd.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    LimitReached,
    NotFound,
    RequestInvalid,
    ServiceDisabled,
    TerminalJobError,
)
from exportd.exports import cursors
from exportd.exports.cursors import utc
from exportd.exports.models import (
    ColumnChoice,
    ExportRequest,
    ExportStatus,
    ExportView,
    Page,
    PlanLimits,
)
from exportd.exports.plans import limits_of, plan_for
from exportd.exports.quotas import bytes_today, check_before, stored_bytes
from exportd.exports.row_cache import RowCache
from exportd.exports.task import EXPORT_TASK
from exportd.formats.localized import uses_decimal_comma
from exportd.ops import events, metrics
from exportd.ops.events import EventKind
from exportd.queue import JobState, JobStore, NewJob
from exportd.sources import DocumentSource, Source, SourceRegistry
from exportd.sources.params import DATE_RANGE_INVALID

ACTIVE_RETRY_AFTER_S = 30
BULK_PRIORITY = 10  # claimed after users' own exports (lower runs first)


class ExportService:
    def __init__(
        self,
        *,
        db: Database,
        store: JobStore,
        sources: SourceRegistry,
        settings: Settings,
        clock: Clock | None = None,
        row_cache: RowCache | None = None,
    ) -> None:
        self.db = db
        self.store = store
        self.sources = sources
        self.settings = settings
        self.clock = clock or SystemClock()
        # Rows between polls (off unless a change feed made it live): see row_cache.py.
        self.row_cache = row_cache if row_cache is not None else RowCache(max_rows=0)
        db.after_write(self.row_cache.forget_all)  # what this process wrote shows at once

    # -- create ------------------------------------------------------------------------

    def create(
        self,
        principal: Principal,
        request: ExportRequest,
        *,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> tuple[ExportView, bool]:
        """Queue an export; returns it and whether it is new (False: idempotent replay)."""
        if not self.settings.enable_exports:
            raise ServiceDisabled("creating exports is switched off", code="exports_disabled")
        normalized = self._normalize(principal, request)
        request_hash = _fingerprint(normalized)
        with self.db.write() as conn:
            lock_for_transaction(conn, f"owner:{principal.user_id}")
            plan = plan_for(conn, principal.plan)
            _check_format(plan, normalized)
            if idempotency_key is not None:
                existing = self._by_idempotency_key(conn, principal, idempotency_key)
                if existing is not None:
                    if existing.request_hash != request_hash:
                        raise Conflict(
                            "this Idempotency-Key was used for a different request",
                            code="idempotency_key_reused",
                        )
                    return self._view(existing), False
            self._check_document(conn, principal, normalized)
            self._check_room(conn, principal.user_id, plan, wanted=1)
            check_before(conn, principal.user_id, plan, self.clock.now())
            export_id = self._insert(
                conn,
                principal,
                normalized,
                idempotency_key=idempotency_key,
                request_hash=request_hash,
                correlation_id=correlation_id,
            )
            row = self._row(conn, export_id)
        return self._view(row), True

    def create_batch(
        self,
        principal: Principal,
        requests: list[ExportRequest],
        *,
        correlation_id: str | None = None,
    ) -> list[ExportView]:
        """Queue several exports at once: all of them, or none (the first fault is named)."""
        if not self.settings.enable_exports:
            raise ServiceDisabled("creating exports is switched off", code="exports_disabled")
        if not requests:
            raise RequestInvalid("the batch is empty", code="batch_empty")
        normalized = [self._normalize_item(principal, i, r) for i, r in enumerate(requests)]
        with self.db.write() as conn:
            lock_for_transaction(conn, f"owner:{principal.user_id}")
            plan = plan_for(conn, principal.plan)
            if len(requests) > plan.max_batch_size:
                raise Forbidden(
                    f"the {plan.name} plan allows batches of {plan.max_batch_size} exports",
                    code="batch_size_limit",
                )
            for index, item in enumerate(normalized):
                _check_format(plan, item)
                try:
                    self._check_document(conn, principal, item)
                except RequestInvalid as exc:
                    raise _of_item(index, exc) from None
            self._check_room(conn, principal.user_id, plan, wanted=len(requests))
            check_before(conn, principal.user_id, plan, self.clock.now())
            ids = [
                self._insert(
                    conn,
                    principal,
                    item,
                    idempotency_key=None,
                    request_hash=_fingerprint(item),
                    correlation_id=correlation_id,
                )
                for item in normalized
            ]
            rows = [self._row(conn, export_id) for export_id in ids]
        return [self._view(row) for row in rows]

    def create_bulk(
        self,
        admin: Principal,
        *,
        user_ids: list[str],
        plan: str,
        request: ExportRequest,
        chunk: int = 100,
    ) -> list[str]:
        """An admin's bulk export: the same export for each user, owned by that user.

        Written ``chunk`` users per transaction; bulk jobs run at a lower priority than
        users' own exports, and users' active-export limits do not apply to them.
        """
        if not admin.is_admin:
            raise Forbidden("bulk exports need an admin", code="admin_required")
        if not self.settings.enable_exports:
            raise ServiceDisabled("creating exports is switched off", code="exports_disabled")
        ids: list[str] = []
        for start in range(0, len(user_ids), chunk):
            with self.db.write() as conn:
                plan_for(conn, plan)
                for user_id in user_ids[start : start + chunk]:
                    owner = Principal(user_id, plan)
                    normalized = self._normalize(owner, request)
                    ids.append(
                        self._insert(
                            conn,
                            owner,
                            normalized,
                            idempotency_key=None,
                            request_hash=_fingerprint(normalized),
                            correlation_id=None,
                            priority=BULK_PRIORITY,
                        )
                    )
        return ids

    def _normalize_item(
        self, principal: Principal, index: int, request: ExportRequest
    ) -> dict[str, Any]:
        try:
            return self._normalize(principal, request)
        except RequestInvalid as exc:
            raise _of_item(index, exc) from None

    def _check_document(
        self, conn: Connection, principal: Principal, normalized: dict[str, Any]
    ) -> None:
        """A document export whose document is missing or does not fit its template is
        refused now, in the request's transaction, not failed by the worker later."""
        source = self.sources.get(normalized["source"])
        if not isinstance(source, DocumentSource):
            return
        check_document(
            conn,
            source,
            owner_id=principal.user_id,
            params=source.params_model.model_validate(normalized["params"]),
            template=normalized["template"],
        )

    def _check_room(
        self, conn: Connection, owner_id: str, plan: PlanLimits, *, wanted: int
    ) -> None:
        active = self._active_count(conn, owner_id)
        if active + wanted > plan.max_active_jobs:
            raise LimitReached(
                f"the {plan.name} plan allows {plan.max_active_jobs} active exports and "
                f"{active} are active; wait for one to finish or cancel one",
                code="active_exports_limit",
                retry_after_s=ACTIVE_RETRY_AFTER_S,
            )

    def _normalize(self, principal: Principal, request: ExportRequest) -> dict[str, Any]:
        source = self._source(principal, request.source)
        if request.format not in source.formats:
            raise RequestInvalid(
                f"{source.name} exports as {', '.join(source.formats)}, not {request.format}",
                code="format_not_supported",
                errors=[{"field": "format", "message": f"one of {list(source.formats)}"}],
            )
        try:
            params = source.params_model.model_validate(request.params)
        except ValidationError as exc:
            raise _params_invalid(exc) from None
        template = _template(source, request)
        options = _options(request)
        self._check_pdf_standard(template, options)
        return {
            "source": source.name,
            "format": request.format,
            "params": params.model_dump(mode="json"),
            "columns": _columns(source, request),
            "template": template,
            "notify": self._notify(principal, request.notify),
            "options": options,
        }

    def _check_pdf_standard(self, template: str | None, options: dict[str, Any] | None) -> None:
        """A standard the template's engine cannot make is refused now, not made into a
        file that claims it (Chromium writes no PDF/A)."""
        standard = (options or {}).get("pdf_standard")
        found = builtin_catalogue().get(template) if template else None
        if standard is None or found is None:
            return
        engine = engine_of(found, self.settings.pdf_engine)
        if standard not in PDF_STANDARDS[engine]:
            raise RequestInvalid(
                f"the {found.name} template prints with {engine}, which cannot make {standard}",
                code="pdf_standard_unsupported",
                errors=[
                    {
                        "field": "options.pdf_standard",
                        "message": f"{engine} makes {list(PDF_STANDARDS[engine]) or 'none'}",
                    }
                ],
            )

    def _notify(self, principal: Principal, notify: dict[str, Any] | None) -> dict[str, Any] | None:
        """Email only to the principal's own address (an admin may name any); webhook URLs
        checked now for their form and again, resolved, when sent."""
        if not notify:
            return None
        email = notify.get("email")
        if email and self.settings.smtp_url is None:
            # Queued, it would only fail when the export is done: say so now.
            raise RequestInvalid(
                "this server sends no email (EXPORTD_SMTP_URL is not set): "
                "ask for a webhook, or poll",
                code="notify_email_unavailable",
                errors=[{"field": "notify.email", "message": "email is not configured"}],
            )
        if email and not principal.is_admin:
            own = (principal.email or "").casefold()
            if email.casefold() != own:
                raise RequestInvalid(
                    "notifications go only to the email address in your token",
                    code="notify_email_not_allowed",
                    errors=[{"field": "notify.email", "message": "must be your own address"}],
                )
        url = notify.get("webhook_url")
        if url:
            try:
                webhooks.check_url(url, allow_private=self.settings.webhook_allow_private)
            except TerminalJobError as exc:
                raise RequestInvalid(
                    exc.message,
                    code=exc.code,
                    errors=[{"field": "notify.webhook_url", "message": exc.message}],
                ) from None
        return {key: value for key, value in notify.items() if value}

    def _source(self, principal: Principal, name: str) -> Source:
        source = self.sources.get(name)
        if source is None or not source.allows(principal):
            names = [s.name for s in self.sources.all() if s.allows(principal)]
            raise RequestInvalid(
                f"no source named {name!r}",
                code="source_unknown",
                errors=[{"field": "source", "message": f"one of {names}"}],
            )
        return source

    def _insert(
        self,
        conn: Connection,
        principal: Principal,
        normalized: dict[str, Any],
        *,
        idempotency_key: str | None,
        request_hash: str,
        correlation_id: str | None,
        priority: int = 0,
    ) -> str:
        export_id = uuid.uuid4().hex
        job = self.store.enqueue(
            conn,
            NewJob(
                task=EXPORT_TASK,
                payload={"export_id": export_id},
                unique_key=f"export:{export_id}",
                correlation_id=correlation_id,
                priority=priority,
            ),
        ).job
        now = self.clock.now()
        values = {
            "id": export_id,
            "owner_id": principal.user_id,
            "plan": principal.plan,
            "job_id": job.id,
            "status": ExportStatus.QUEUED.value,
            "idempotency_key": idempotency_key,
            "request_hash": request_hash,
            "correlation_id": correlation_id,
            "origin": "bulk" if priority == BULK_PRIORITY else "user",
            "created_at": now,
            "updated_at": now,
            **normalized,
        }
        conn.execute(insert(exports).values(values))
        events.record(conn, EventKind.ENQUEUED, now, export=values)
        return export_id

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
        return self._view(_visible(row, principal, export_id))

    def fetch(self, principal: Principal, export_id: str) -> ExportView:
        """The export from the database, its row kept for the next poll."""
        metrics.POLL_CACHE_MISSES.inc()
        generation = self.row_cache.generation
        with self.db.read_one() as conn:  # one statement: no transaction around it
            row = conn.execute(_joined().where(exports.c.id == export_id)).first()
        if row is not None:
            self.row_cache.put(export_id, row, generation=generation)
        return self._view(_visible(row, principal, export_id))

    def list_exports(
        self,
        principal: Principal,
        *,
        status: ExportStatus | None = None,
        source: str | None = None,
        format: str | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        id_prefix: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        with_stats: bool = False,
    ) -> Page:
        query = (
            _joined()
            .where(_visible_to(principal))
            .order_by(exports.c.created_at.desc(), exports.c.id.desc())
        )
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
            query = query.where(_status_is(status, self.clock.now()))
        if cursor is not None:
            created_at, last_id = cursors.decode(cursor)
            query = query.where(
                or_(
                    exports.c.created_at < created_at,
                    and_(exports.c.created_at == created_at, exports.c.id < last_id),
                )
            )
        with self.db.read() as conn:
            rows = conn.execute(query.limit(limit + 1)).all()
            stats = self._stats(conn, principal) if with_stats else None
        items = [self._view(row) for row in rows[:limit]]
        next_cursor = (
            cursors.encode(items[-1].created_at, items[-1].id) if len(rows) > limit else None
        )
        return Page(items, next_cursor, stats)

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
            active = self._active_count(conn, principal.user_id)
            since = self.clock.now() - timedelta(days=1)
            today = conn.execute(
                select(func.count()).where(
                    exports.c.owner_id == principal.user_id, exports.c.created_at >= since
                )
            ).scalar_one()
            stored = stored_bytes(conn, principal.user_id, self.clock.now())
            exported = bytes_today(conn, principal.user_id, self.clock.now())
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

    # -- change ------------------------------------------------------------------------

    def cancel(self, principal: Principal, export_id: str) -> ExportView | None:
        """Cancel an active export, or delete a finished one (None: it is gone)."""
        with self.db.write() as conn:
            row = self._owned(conn, principal, export_id)
            lock_for_transaction(conn, f"owner:{row.owner_id}")
            view = self._view(row)
            now = self.clock.now()
            if view.status.is_active and row.job_id is not None:
                self._cancel_job(conn, row)
                return self._view(self._row(conn, export_id))
            conn.execute(
                update(exports)
                .where(exports.c.id == export_id)
                .values(deleted_at=now, updated_at=now)
            )
            return None

    def cancel_active(self, principal: Principal, export_id: str) -> ExportView:
        """Cancel a queued or running export, and never delete anything: an export that
        is already final (it may have just completed) is a Conflict and stays as it is."""
        with self.db.write() as conn:
            row = self._owned(conn, principal, export_id)
            lock_for_transaction(conn, f"owner:{row.owner_id}")
            status = self._view(row).status
            if status.is_active and row.job_id is not None:
                try:
                    self._cancel_job(conn, row)
                    return self._view(self._row(conn, export_id))
                except InvalidTransition:  # its job ended since the row was read
                    status = self._view(self._row(conn, export_id)).status
            raise Conflict(
                f"the export is {status}: only a queued or running export can be cancelled",
                code="export_not_active",
            )

    def _cancel_job(self, conn: Connection, row: Row[Any]) -> None:
        """Queued: cancelled now.  Running: asked to stop (it ends cancelled, the worker
        records it; the export shows running until then)."""
        if self.store.cancel(conn, row.job_id) is JobState.CANCELLED:
            self._set(conn, row.id, status=ExportStatus.CANCELLED.value)
            events.record(conn, EventKind.CANCELLED, self.clock.now(), export=row)

    def retry(self, principal: Principal, export_id: str) -> ExportView:
        """Queue a failed export again (owner or admin), at most once per cooldown."""
        with self.db.write() as conn:
            row = self._owned(conn, principal, export_id)
            lock_for_transaction(conn, f"owner:{row.owner_id}")
            if self._view(row).status is not ExportStatus.FAILED:
                raise Conflict(
                    f"only failed exports can be retried; this one is {self._view(row).status}",
                    code="export_not_failed",
                )
            now = self.clock.now()
            cooldown = timedelta(seconds=self.settings.export_retry_cooldown_s)
            if row.last_retry_at is not None and now - row.last_retry_at < cooldown:
                wait = (row.last_retry_at + cooldown - now).total_seconds()
                raise LimitReached(
                    "this export was retried moments ago",
                    code="retry_rate_limited",
                    retry_after_s=max(int(wait) + 1, 1),
                )
            self._check_room(conn, row.owner_id, plan_for(conn, row.plan), wanted=1)
            job_id = self._requeue_job(conn, row)
            events.record(conn, EventKind.RETRIED, now, export=row, job_id=job_id, code="manual")
            self._set(
                conn,
                export_id,
                status=ExportStatus.QUEUED.value,
                job_id=job_id,
                error=None,
                result=null(),  # a partial file kept by the failure: the orphan sweep's now
                expires_at=None,
                retries=row.retries + 1,
                last_retry_at=now,
            )
            return self._view(self._row(conn, export_id))

    def _requeue_job(self, conn: Connection, row: Row[Any]) -> int:
        if row.job_id is not None:
            try:
                return self.store.requeue(conn, row.job_id).id
            except InvalidTransition:
                pass
        # The job was pruned: a new one carries the export on.
        return self.store.enqueue(
            conn,
            NewJob(
                task=EXPORT_TASK,
                payload={"export_id": row.id},
                unique_key=f"export:{row.id}",
                correlation_id=row.correlation_id,
            ),
        ).job.id

    # -- rows --------------------------------------------------------------------------

    def _owned(self, conn: Connection, principal: Principal, export_id: str) -> Row[Any]:
        row = conn.execute(_joined().where(exports.c.id == export_id)).first()
        return _visible(row, principal, export_id)

    def _row(self, conn: Connection, export_id: str) -> Row[Any]:
        return conn.execute(_joined().where(exports.c.id == export_id)).one()

    def _by_idempotency_key(
        self, conn: Connection, principal: Principal, key: str
    ) -> Row[Any] | None:
        return conn.execute(
            _joined().where(
                exports.c.owner_id == principal.user_id, exports.c.idempotency_key == key
            )
        ).first()

    def _active_count(self, conn: Connection, owner_id: str) -> int:
        return int(
            conn.execute(
                select(func.count())
                .select_from(exports.join(jobs, jobs.c.id == exports.c.job_id))
                .where(
                    exports.c.owner_id == owner_id,
                    exports.c.deleted_at.is_(None),
                    jobs.c.state.in_([JobState.QUEUED.value, JobState.RUNNING.value]),
                )
            ).scalar_one()
        )

    def _stats(self, conn: Connection, principal: Principal) -> dict[str, int]:
        rows = conn.execute(
            _joined()
            .where(_visible_to(principal))
            .with_only_columns(
                exports.c.status, jobs.c.state.label("job_state"), exports.c.expires_at
            )
        ).all()
        counts = {status.value: 0 for status in ExportStatus}
        now = self.clock.now()
        for row in rows:
            counts[_status(row.status, row.job_state, row.expires_at, now).value] += 1
        return counts

    def _set(self, conn: Connection, export_id: str, **values: Any) -> None:
        conn.execute(
            update(exports)
            .where(exports.c.id == export_id)
            .values(updated_at=self.clock.now(), **values)
        )

    def _view(self, row: Row[Any]) -> ExportView:
        status = _status(row.status, row.job_state, row.expires_at, self.clock.now())
        job_error = row.job_error if status is ExportStatus.FAILED else None
        updated = max(filter(None, [row.updated_at, row.job_updated_at]))
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
        )


def _joined() -> Any:
    return _JOINED


def _build_joined() -> Any:
    # Built once: constructing this select costs more than running it on SQLite.
    return select(
        exports,
        jobs.c.state.label("job_state"),
        jobs.c.progress.label("job_progress"),
        jobs.c.error.label("job_error"),
        jobs.c.result.label("job_result"),
        jobs.c.started_at.label("job_started_at"),
        jobs.c.finished_at.label("job_finished_at"),
        jobs.c.updated_at.label("job_updated_at"),
    ).select_from(exports.outerjoin(jobs, jobs.c.id == exports.c.job_id))


def _visible_to(principal: Principal) -> Any:
    alive = exports.c.deleted_at.is_(None)
    return alive if principal.is_admin else and_(alive, exports.c.owner_id == principal.user_id)


def _visible(row: Row[Any] | None, principal: Principal, export_id: str) -> Row[Any]:
    """``_visible_to`` on a row in hand.  Another user's export is "not found", never
    "forbidden": ids reveal nothing."""
    if (
        row is None
        or row.deleted_at is not None
        or not (principal.is_admin or row.owner_id == principal.user_id)
    ):
        raise NotFound(f"no export {export_id}", code="export_not_found")
    return row


def _status(
    stored: str, job_state: str | None, expires_at: datetime | None, now: datetime
) -> ExportStatus:
    """The job is the truth while it lives; the export row keeps the final word after."""
    status = ExportStatus(stored)
    if status.is_active and job_state is not None:
        status = ExportStatus(job_state)
    if status is ExportStatus.COMPLETED and expires_at is not None and expires_at <= now:
        return ExportStatus.EXPIRED
    return status


def _status_is(status: ExportStatus, now: datetime) -> Any:
    """The SQL twin of ``_status``, for filtering lists by status."""
    stored_active = exports.c.status.in_(["queued", "running"])
    if status is ExportStatus.EXPIRED:
        return and_(
            _status_is(ExportStatus.COMPLETED, now).self_group(), exports.c.expires_at <= now
        )
    live = and_(stored_active, jobs.c.state == status.value)
    settled = and_(~stored_active, exports.c.status == status.value)
    orphan = and_(stored_active, jobs.c.state.is_(None), exports.c.status == status.value)
    condition = or_(live, settled, orphan)
    if status is ExportStatus.COMPLETED:
        not_expired = or_(exports.c.expires_at.is_(None), exports.c.expires_at > now)
        return and_(condition.self_group(), not_expired)
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


_APPLIES_TO = {"keep_partial": "tabular formats only", "pdf_standard": "pdf only"}


def _options(request: ExportRequest) -> dict[str, Any] | None:
    """Write options, kept only where they mean something (CSV-only ones for CSV)."""
    options = dict(request.options or {})
    csv_only = ("delimiter", "bom", "locale", "line_terminator")
    misplaced = [k for k in csv_only if k in options and request.format != "csv"]
    if options.get("keep_partial") and request.format in ("pdf", "html"):
        misplaced.append("keep_partial")
    if options.get("pdf_standard") and request.format != "pdf":
        misplaced.append("pdf_standard")
    if misplaced:
        raise RequestInvalid(
            f"{', '.join(misplaced)} do not apply to {request.format}",
            code="option_not_applicable",
            errors=[
                {"field": f"options.{k}", "message": _APPLIES_TO.get(k, "csv only")}
                for k in misplaced
            ],
        )
    if (
        options.get("locale")
        and "delimiter" not in options
        and uses_decimal_comma(options["locale"])
    ):
        options["delimiter"] = ";"  # "1,5" needs another separator: Excel's there, too
    return options or None


def _template(source: Source, request: ExportRequest) -> str | None:
    """Document sources render with a template (the default one when none is named)."""
    if source.kind != "document":
        if request.template is not None:
            raise RequestInvalid(
                f"{source.name} is not a document source: it takes no template",
                code="template_not_applicable",
                errors=[{"field": "template", "message": "only for document sources"}],
            )
        return None
    catalogue = builtin_catalogue()
    template = catalogue.get(request.template)
    if template is None:
        names = [t.name for t in catalogue.all()]
        raise RequestInvalid(
            f"no template named {request.template!r}",
            code="template_unknown",
            errors=[{"field": "template", "message": f"one of {names}"}],
        )
    if request.format not in template.formats:
        raise RequestInvalid(
            f"the {template.name} template makes {', '.join(template.formats)}, "
            f"not {request.format}",
            code="format_not_supported",
            errors=[{"field": "format", "message": f"one of {list(template.formats)}"}],
        )
    return template.name


def _columns(source: Source, request: ExportRequest) -> list[dict[str, str]] | None:
    if request.column_preset is not None:
        preset = source.column_presets.get(request.column_preset)
        if preset is None:
            raise RequestInvalid(
                f"{source.name} has no column preset {request.column_preset!r}",
                code="column_preset_unknown",
                errors=[
                    {"field": "column_preset", "message": f"one of {sorted(source.column_presets)}"}
                ],
            )
        return [ColumnChoice(name).as_dict() for name in preset]
    if request.columns is None:
        return None
    valid = source.column_names()
    unknown = [c.name for c in request.columns if c.name not in valid]
    if unknown or not request.columns:
        raise RequestInvalid(
            f"unknown columns {unknown}; {source.name} has {valid}"
            if unknown
            else "choose at least one column",
            code="column_unknown",
            errors=[{"field": "columns", "message": f"valid columns: {valid}"}],
        )
    names = [c.name for c in request.columns]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        # A file's columns are the source's, each once: a repeat has nothing to read from.
        raise RequestInvalid(
            f"each column may be chosen once: {repeated} repeated",
            code="column_repeated",
            errors=[{"field": "columns", "message": f"repeated: {repeated}"}],
        )
    return [c.as_dict() for c in request.columns]


def _params_invalid(exc: ValidationError) -> RequestInvalid:
    """Each field named; a date range that runs backwards is its own code, so a client
    can tell it from a value of the wrong type."""
    errors = exc.errors()
    backwards = all(e["type"] == DATE_RANGE_INVALID for e in errors)
    return RequestInvalid(
        "the date range ends before it starts" if backwards else "params do not validate",
        code=DATE_RANGE_INVALID if backwards else "params_invalid",
        errors=[
            {"field": ".".join(["params", *map(str, e["loc"])]), "message": e["msg"]}
            for e in errors
        ],
    )


def _of_item(index: int, exc: RequestInvalid) -> RequestInvalid:
    """A batch's refusal names the item: ``items.N.field``."""
    return RequestInvalid(
        f"item {index}: {exc.message}",
        code=exc.code,
        errors=[{**e, "field": f"items.{index}.{e['field']}"} for e in exc.errors],
    )


def _check_format(plan: PlanLimits, normalized: dict[str, Any]) -> None:
    if normalized["format"] not in plan.formats_allowed:
        raise Forbidden(
            f"the {plan.name} plan does not include {normalized['format']} exports",
            code="format_not_in_plan",
        )


def _fingerprint(normalized: dict[str, Any]) -> str:
    canonical = json.dumps(normalized, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


_JOINED = _build_joined()

"""The export service: every rule about exports, and no HTTP.

Each write runs in one transaction that first takes a per-owner lock (PostgreSQL:
an advisory lock; SQLite: its single write lock), so limit checks and idempotency
checks cannot race: two requests for the last active slot, or with the same
idempotency key, are decided one after the other.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Row, insert, null, update

from exportd.auth.principal import Principal
from exportd.clock import Clock
from exportd.config import Settings
from exportd.db import Database
from exportd.db.locks import lock_for_transaction
from exportd.db.rows import checked
from exportd.db.tables import exports
from exportd.destinations.service import check_owned
from exportd.destinations.service import named as named_destinations
from exportd.documents.precheck import check_asked_document
from exportd.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    LimitReached,
    RequestInvalid,
    ServiceDisabled,
)
from exportd.exports.export_jobs import export_job, requeue_export_job
from exportd.exports.models import ExportRequest, ExportStatus, ExportView, PlanLimits
from exportd.exports.plans import plan_for
from exportd.exports.quotas import check_usage
from exportd.exports.read_model import (
    JOINED,
    JOINED_BY_ID,
    ExportReads,
    Room,
    active_count,
    joined_row,
    plan_and_room,
    visible,
)
from exportd.exports.row_cache import RowCache
from exportd.exports.split_count import check_parts
from exportd.exports.split_rules import SplitLimits
from exportd.exports.validation import check_format, fingerprint, normalize, of_item, request_of
from exportd.ops import events
from exportd.ops.events import EventKind
from exportd.queue import JobState, JobStore
from exportd.sources import SourceRegistry

ACTIVE_RETRY_AFTER_S = 30
BULK_PRIORITY = 10  # claimed after users' own exports (lower runs first)
# The export's row comes back from its INSERT: the create answers without reading it.
_INSERT = insert(exports).returning(*exports.c)


class ExportService(ExportReads):
    """Creating, cancelling, deleting and retrying exports; the reads are ``ExportReads``."""

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
        super().__init__(db=db, clock=clock, row_cache=row_cache)
        self.store = store
        self.sources = sources
        self.settings = settings

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
        request_hash = fingerprint(normalized)
        with self.db.write() as conn:
            room = self._room(conn, principal)
            plan = room.plan
            check_format(plan, normalized)
            if idempotency_key is not None:
                existing = self._by_idempotency_key(conn, principal, idempotency_key)
                if existing is not None:
                    if existing.request_hash != request_hash:
                        raise Conflict(
                            "this Idempotency-Key was used for a different request",
                            code="idempotency_key_reused",
                        )
                    return self._view(existing), False
            self._check_new(conn, principal, room, normalized)
            row = self._insert(
                conn,
                principal,
                normalized,
                idempotency_key=idempotency_key,
                request_hash=request_hash,
                correlation_id=correlation_id,
                plan=plan,
            )
        return self._view(row), True

    def create_in(
        self,
        conn: Connection,
        principal: Principal,
        request: ExportRequest,
        *,
        correlation_id: str | None = None,
        **columns: Any,
    ) -> str:
        """Queue an export in the caller's transaction, by every rule ``create`` keeps but
        idempotency: a schedule's run, whose row commits with its export or not at all.
        ``columns``: the export's ``schedule_id`` and ``skip_if_empty``."""
        if not self.settings.enable_exports:
            raise ServiceDisabled("creating exports is switched off", code="exports_disabled")
        normalized = self._normalize(principal, request)
        room = self._room(conn, principal)
        check_format(room.plan, normalized)
        self._check_new(conn, principal, room, normalized)
        inserted = self._insert(
            conn,
            principal,
            normalized,
            idempotency_key=None,
            request_hash=fingerprint(normalized),
            correlation_id=correlation_id,
            plan=room.plan,
            **columns,
        )
        return str(inserted.id)

    def check_request(self, principal: Principal, request: ExportRequest) -> dict[str, Any]:
        """The request normalized, if an export of it could be queued now by the rules of
        the request itself (source, params, format and plan, document, destinations); the
        limits that change with time (active exports, quotas, a split's parts) are not."""
        normalized = self._normalize(principal, request)
        with self.db.read() as conn:
            check_format(plan_for(conn, principal.plan), normalized)
            check_asked_document(conn, self.sources, principal.user_id, normalized)
            check_owned(conn, principal.user_id, normalized["destinations"])
        return normalized

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
            room = self._room(conn, principal)
            plan = room.plan
            if len(requests) > plan.max_batch_size:
                raise Forbidden(
                    f"the {plan.name} plan allows batches of {plan.max_batch_size} exports",
                    code="batch_size_limit",
                )
            for index, item in enumerate(normalized):
                check_format(plan, item)
                try:
                    self._check_asked(conn, principal, plan, item)
                except RequestInvalid as exc:
                    raise of_item(index, exc) from None
            self._check_room_in(room, wanted=len(requests))
            rows = [
                self._insert(
                    conn,
                    principal,
                    item,
                    idempotency_key=None,
                    request_hash=fingerprint(item),
                    correlation_id=correlation_id,
                    plan=plan,
                )
                for item in normalized
            ]
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
                limits = plan_for(conn, plan)
                for user_id in user_ids[start : start + chunk]:
                    owner = Principal(user_id, plan)
                    normalized = self._normalize(owner, request)
                    check_owned(conn, user_id, normalized["destinations"])
                    ids.append(
                        self._insert(
                            conn,
                            owner,
                            normalized,
                            idempotency_key=None,
                            request_hash=fingerprint(normalized),
                            correlation_id=None,
                            plan=limits,
                            priority=BULK_PRIORITY,
                        ).id
                    )
        return ids

    def _normalize_item(
        self, principal: Principal, index: int, request: ExportRequest
    ) -> dict[str, Any]:
        try:
            return self._normalize(principal, request)
        except RequestInvalid as exc:
            raise of_item(index, exc) from None

    def _room(self, conn: Connection, principal: Principal) -> Room:
        """The owner's lock (held to commit), then the plan and the owner's room: one read."""
        lock_for_transaction(conn, f"owner:{principal.user_id}")
        return plan_and_room(conn, principal.plan, principal.user_id, self.clock.now())

    def _check_new(
        self, conn: Connection, principal: Principal, room: Room, normalized: dict[str, Any]
    ) -> None:
        """What a new export needs besides its format: what it asks for, an active slot."""
        self._check_asked(conn, principal, room.plan, normalized)
        self._check_room_in(room, wanted=1)

    def _check_asked(self, conn: Connection, p: Principal, plan: PlanLimits, asked: Any) -> None:
        """Its document, its destinations, and its split's parts where counted cheaply."""
        check_asked_document(conn, self.sources, p.user_id, asked)
        check_owned(conn, p.user_id, asked["destinations"])
        check_parts(conn, self.sources, self.settings, p.user_id, plan, asked)

    def _check_room_in(self, room: Room, *, wanted: int) -> None:
        """Active slots for ``wanted`` more exports, and quota left (stored bytes, the
        day's bytes), as read with the plan."""
        self._refuse_when_full(room.active, room.plan, wanted)
        check_usage(room.usage, room.plan)

    @staticmethod
    def _refuse_when_full(active: int, plan: PlanLimits, wanted: int) -> None:
        if active + wanted > plan.max_active_jobs:
            raise LimitReached(
                f"the {plan.name} plan allows {plan.max_active_jobs} active exports and "
                f"{active} are active; wait for one to finish or cancel one",
                code="active_exports_limit",
                retry_after_s=ACTIVE_RETRY_AFTER_S,
            )

    def _normalize(self, principal: Principal, request: ExportRequest) -> dict[str, Any]:
        return normalize(
            principal,
            request,
            sources=self.sources,
            smtp_configured=self.settings.smtp_url is not None,
            webhook_allow_private=self.settings.webhook_allow_private,
            pdf_engine=self.settings.pdf_engine,
            split_limits=SplitLimits(
                min_rows=self.settings.split_min_rows,
                min_bytes=self.settings.split_min_bytes,
            ),
        )

    def _insert(
        self,
        conn: Connection,
        principal: Principal,
        normalized: dict[str, Any],
        *,
        idempotency_key: str | None,
        request_hash: str,
        correlation_id: str | None,
        plan: PlanLimits,
        priority: int = 0,
        **columns: Any,
    ) -> Any:
        """The export and its job inserted; the export as ``JOINED`` reads it."""
        export_id = uuid.uuid4().hex
        new = export_job(
            export_id, principal.user_id, plan, correlation_id=correlation_id, priority=priority
        )
        job = self.store.enqueue(conn, new).job
        now = self.clock.now()
        if normalized.get("destinations") and "destination_status" not in columns:
            named_now = named_destinations(conn, principal.user_id, normalized["destinations"])
            columns = {**columns, "destination_status": named_now}
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
            **columns,
        }
        row = conn.execute(_INSERT, checked(exports, values)).one()  # db/rows.py
        events.record(conn, EventKind.ENQUEUED, now, export=values)
        return joined_row(row, job)

    # -- change ------------------------------------------------------------------------

    def cancel(self, principal: Principal, export_id: str) -> ExportView | None:
        """Cancel an active export, or delete a finished one (None: it is gone)."""
        with self.db.write() as conn:
            row = self._locked(conn, principal, export_id)
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

    def delete_finished(self, principal: Principal, export_id: str) -> None:
        """Delete a finished export (its file goes with it); an active one is refused, not
        cancelled.  Decided and done in one transaction under the owner's lock, so a retry
        that makes it active again either comes first (refused here) or finds it gone."""
        with self.db.write() as conn:
            row = self._locked(conn, principal, export_id)
            if self._view(row).status.is_active:
                raise RequestInvalid("cancel it first: it is still running", code="export_active")
            now = self.clock.now()
            conn.execute(
                update(exports)
                .where(exports.c.id == export_id)
                .values(deleted_at=now, updated_at=now)
            )

    def cancel_active(self, principal: Principal, export_id: str) -> ExportView:
        """Cancel a queued or running export, and never delete anything: an export that
        is already final (it may have just completed) is a Conflict and stays as it is."""
        with self.db.write() as conn:
            row = self._locked(conn, principal, export_id)
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
            row = self._locked(conn, principal, export_id)
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
            active = active_count(conn, row.owner_id)
            self._refuse_when_full(active, plan_for(conn, row.plan), wanted=1)
            self.requeue_failed(conn, row, cause="manual")
            return self._view(self._row(conn, export_id))

    def requeue_failed(self, conn: Connection, row: Row[Any], *, cause: str) -> None:
        """Queue a failed export's row again, in the caller's transaction under its
        owner's lock (the caller decided it may: ``retry``, or an admin's bulk retry)."""
        now = self.clock.now()
        job_id = requeue_export_job(self.store, conn, row)
        events.record(conn, EventKind.RETRIED, now, export=row, job_id=job_id, code=cause)
        self._set(
            conn,
            row.id,
            status=ExportStatus.QUEUED.value,
            job_id=job_id,
            error=None,
            result=null(),  # a partial file kept by the failure: the orphan sweep's now
            expires_at=None,
            retries=row.retries + 1,
            last_retry_at=now,
        )

    def create_again(
        self, principal: Principal, export_id: str, *, correlation_id: str | None = None
    ) -> ExportView:
        """The same request once more, as a new export: how an expired file comes back."""
        old = self.get(principal, export_id)
        if old.owner_id != principal.user_id:
            # An admin sees everyone's exports, but a re-run is a new export: made with the
            # admin's identity, plan and source rights, it would still carry the owner's
            # filters and notify the owner's email or webhook with the admin's rows.  Nothing
            # here holds a credential of the owner to act for them, so it is refused.
            raise Forbidden(
                "only its owner can export it again (an admin may retry a failed one)",
                code="export_again_owner_only",
            )
        view, _created = self.create(principal, request_of(old), correlation_id=correlation_id)
        return view

    # -- rows --------------------------------------------------------------------------

    def _locked(self, conn: Connection, principal: Principal, export_id: str) -> Row[Any]:
        """The export, read under its owner's lock: what is decided on it holds until the
        transaction ends (an admin's read first finds the owner to lock for)."""
        owner = principal.user_id
        if principal.is_admin:
            owner = self._owned(conn, principal, export_id).owner_id
        lock_for_transaction(conn, f"owner:{owner}")
        return self._owned(conn, principal, export_id)

    def _owned(self, conn: Connection, principal: Principal, export_id: str) -> Row[Any]:
        row = conn.execute(JOINED_BY_ID, {"export_id": export_id}).first()
        return visible(row, principal, export_id)

    def _row(self, conn: Connection, export_id: str) -> Row[Any]:
        return conn.execute(JOINED_BY_ID, {"export_id": export_id}).one()

    def _by_idempotency_key(
        self, conn: Connection, principal: Principal, key: str
    ) -> Row[Any] | None:
        return conn.execute(
            JOINED.where(exports.c.owner_id == principal.user_id, exports.c.idempotency_key == key)
        ).first()

    def _set(self, conn: Connection, export_id: str, **values: Any) -> None:
        conn.execute(
            update(exports)
            .where(exports.c.id == export_id)
            .values(updated_at=self.clock.now(), **values)
        )

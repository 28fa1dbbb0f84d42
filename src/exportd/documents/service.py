"""The document store: CRUD, one default per owner, section guardrails.

Rules: the first document becomes the default; deleting the default promotes the most
recently updated one; deleting a document cancels its queued and running exports.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy import Connection, Row, delete, func, insert, select, update

from exportd.auth.principal import Principal
from exportd.clock import Clock, SystemClock
from exportd.db import Database
from exportd.db.locks import lock_for_transaction
from exportd.db.tables import documents, exports
from exportd.documents.models import Resume
from exportd.documents.templates import builtin_catalogue
from exportd.errors import InvalidTransition, NotFound, RequestInvalid
from exportd.exports.plans import plan_for
from exportd.exports.read_model import active_exports
from exportd.queue import JobState, JobStore

if TYPE_CHECKING:
    from exportd.documents.preview import Previews

RESUME_SOURCE = "resume"


@dataclass(frozen=True, slots=True, kw_only=True)
class Document:
    id: str
    owner_id: str
    title: str
    content: dict[str, Any]
    is_default: bool
    sections: list[str]
    created_at: datetime
    updated_at: datetime


class DocumentService:
    def __init__(
        self, *, db: Database, store: JobStore, max_sections: int, clock: Clock | None = None
    ) -> None:
        self.db = db
        self.store = store
        self.max_sections = max_sections
        self.clock = clock or SystemClock()

    def create(self, principal: Principal, *, title: str, content: dict[str, Any]) -> Document:
        resume = self._validate(content)
        now = self.clock.now()
        document_id = uuid.uuid4().hex
        with self.db.write() as conn:
            lock_for_transaction(conn, f"documents:{principal.user_id}")
            first = self._count(conn, principal.user_id) == 0
            conn.execute(
                insert(documents).values(
                    id=document_id,
                    owner_id=principal.user_id,
                    title=title,
                    content=resume.model_dump(mode="json", exclude_none=True),
                    is_default=first,
                    created_at=now,
                    updated_at=now,
                )
            )
            return _to_document(self._row(conn, principal, document_id))

    def list_documents(self, principal: Principal) -> list[Document]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(documents)
                .where(documents.c.owner_id == principal.user_id)
                .order_by(documents.c.updated_at.desc(), documents.c.id)
            ).all()
        return [_to_document(row) for row in rows]

    def get(self, principal: Principal, document_id: str) -> Document:
        with self.db.read() as conn:
            return _to_document(self._row(conn, principal, document_id))

    def default(self, principal: Principal) -> Document:
        with self.db.read() as conn:
            row = conn.execute(
                select(documents).where(
                    documents.c.owner_id == principal.user_id, documents.c.is_default
                )
            ).first()
        if row is None:
            raise NotFound("you have no documents yet", code="document_not_found")
        return _to_document(row)

    def update(
        self,
        principal: Principal,
        document_id: str,
        *,
        title: str | None,
        content: dict[str, Any],
    ) -> Document:
        resume = self._validate(content)
        with self.db.write() as conn:
            row = self._row(conn, principal, document_id)
            conn.execute(
                update(documents)
                .where(documents.c.id == document_id)
                .values(
                    title=title or row.title,
                    content=resume.model_dump(mode="json", exclude_none=True),
                    updated_at=self.clock.now(),
                )
            )
            return _to_document(self._row(conn, principal, document_id))

    def make_default(self, principal: Principal, document_id: str) -> Document:
        with self.db.write() as conn:
            lock_for_transaction(conn, f"documents:{principal.user_id}")
            self._row(conn, principal, document_id)
            # Clear first: the partial unique index allows one default at a time.
            conn.execute(
                update(documents)
                .where(documents.c.owner_id == principal.user_id, documents.c.is_default)
                .values(is_default=False)
            )
            conn.execute(
                update(documents).where(documents.c.id == document_id).values(is_default=True)
            )
            return _to_document(self._row(conn, principal, document_id))

    def delete(self, principal: Principal, document_id: str) -> int:
        """Delete a document; returns how many of its exports were cancelled."""
        with self.db.write() as conn:
            lock_for_transaction(conn, f"documents:{principal.user_id}")
            row = self._row(conn, principal, document_id)
            cancelled = self._cancel_exports_of(conn, principal.user_id, document_id)
            conn.execute(delete(documents).where(documents.c.id == document_id))
            if row.is_default:
                self._promote_latest(conn, principal.user_id)
        return cancelled

    def preview(
        self,
        principal: Principal,
        document_id: str,
        template_name: str | None,
        *,
        previews: Previews,
        fonts_url: Callable[[str], str] | None = None,
    ) -> str:
        """The document as HTML with a template, at once (``previews`` keeps the rate and
        page budgets); ``fonts_url(template name)``: where the caller serves its fonts."""
        with self.db.read() as conn:
            document = _to_document(self._row(conn, principal, document_id))
            template = builtin_catalogue().get(template_name)
            if template is None:
                raise RequestInvalid(
                    f"no template named {template_name!r}", code="template_unknown"
                )
            watermark = plan_for(conn, principal.plan).watermark
        try:
            # Stored content validated when written, but limits may have tightened since.
            resume = Resume.model_validate(document.content)
        except ValidationError as exc:
            raise document_invalid(exc) from None
        fonts = fonts_url(template.name) if fonts_url else None
        return previews.html(
            principal.user_id, resume, template, watermark=watermark, fonts_url=fonts
        )

    # -- helpers -----------------------------------------------------------------------

    def _validate(self, content: dict[str, Any]) -> Resume:
        try:
            resume = Resume.model_validate(content)
        except ValidationError as exc:
            raise document_invalid(exc) from None
        sections = resume.section_names()
        if len(sections) > self.max_sections:
            raise RequestInvalid(
                f"a document may have at most {self.max_sections} sections; "
                f"this one has {len(sections)}",
                code="too_many_sections",
                errors=[{"field": "content.sections", "message": f"at most {self.max_sections}"}],
            )
        return resume

    def _row(self, conn: Connection, principal: Principal, document_id: str) -> Row[Any]:
        row = conn.execute(
            select(documents).where(
                documents.c.id == document_id, documents.c.owner_id == principal.user_id
            )
        ).first()
        if row is None:
            raise NotFound(f"no document {document_id}", code="document_not_found")
        return row

    def _count(self, conn: Connection, owner_id: str) -> int:
        return int(
            conn.execute(select(func.count()).where(documents.c.owner_id == owner_id)).scalar_one()
        )

    def _promote_latest(self, conn: Connection, owner_id: str) -> None:
        latest = conn.execute(
            select(documents.c.id)
            .where(documents.c.owner_id == owner_id)
            .order_by(documents.c.updated_at.desc(), documents.c.id)
            .limit(1)
        ).scalar()
        if latest is not None:
            conn.execute(update(documents).where(documents.c.id == latest).values(is_default=True))

    def _cancel_exports_of(self, conn: Connection, owner_id: str, document_id: str) -> int:
        # An owner has few active exports (the plan caps them): filter the JSON here, the
        # same way on every database.
        active = conn.execute(
            active_exports(exports.c.id, exports.c.params, exports.c.job_id).where(
                exports.c.owner_id == owner_id, exports.c.source == RESUME_SOURCE
            )
        ).all()
        cancelled = 0
        for export in active:
            if export.params.get("document_id") != document_id:
                continue
            try:
                state = self.store.cancel(conn, export.job_id)
            except InvalidTransition:
                continue
            if state is JobState.CANCELLED:
                conn.execute(
                    update(exports)
                    .where(exports.c.id == export.id)
                    .values(status="cancelled", updated_at=self.clock.now())
                )
            cancelled += 1
        return cancelled


def document_invalid(exc: ValidationError) -> RequestInvalid:
    """A 422 naming each field that does not fit (``content.work.0.highlights.3``);
    ``document_too_large`` when the whole is over its size, else ``document_invalid``."""
    errors = exc.errors()
    too_large = any(e["type"] == "document_too_large" for e in errors)
    return RequestInvalid(
        errors[0]["msg"] if too_large else "the document does not validate",
        code="document_too_large" if too_large else "document_invalid",
        errors=[
            {"field": ".".join(["content", *map(str, e["loc"])]), "message": e["msg"]}
            for e in errors
        ],
    )


def _to_document(row: Row[Any]) -> Document:
    return Document(
        id=row.id,
        owner_id=row.owner_id,
        title=row.title,
        content=row.content,
        is_default=bool(row.is_default),
        sections=_section_names(row.content),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _section_names(content: dict[str, Any]) -> list[str]:
    """``Resume.section_names`` of stored content, read without validating it again: a
    document stored before a limit was tightened still lists (and can be edited to fit)."""
    names = ["profile"]
    names += [name for name in ("work", "education", "skills") if content.get(name)]
    names += [str(section.get("title", "")) for section in content.get("sections", [])]
    return names

"""The built-in ``resume`` source: a document from the store, rendered with a template."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, Connection, select

from exportd.db.tables import documents
from exportd.errors import RequestInvalid, TerminalJobError
from exportd.sources.base import DocumentSource


class ResumeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    document_id: str | None = Field(
        default=None, max_length=32, description="the document; the default one when absent"
    )
    page_size: Literal["a4", "letter"] | None = Field(
        default=None, description="the template's own page size when absent"
    )


class ResumeSource(DocumentSource):
    def document(self, conn: Connection, owner_id: str, params: BaseModel) -> dict[str, Any]:
        content = _content(conn, owner_id, params)
        if content is None:
            raise TerminalJobError(
                "the document no longer exists"
                if getattr(params, "document_id", None)
                else "there is no default document",
                code="document_not_found",
            )
        return content

    def document_date(self, conn: Connection, owner_id: str, params: BaseModel) -> datetime | None:
        assert isinstance(params, ResumeParams)
        query = select(documents.c.updated_at).where(documents.c.owner_id == owner_id)
        query = query.where(_which(params))
        found: datetime | None = conn.execute(query).scalar()
        return found

    def precheck_document(
        self, conn: Connection, owner_id: str, params: BaseModel
    ) -> dict[str, Any] | None:
        # One row by its key: cheap enough to read in the request as well.
        content = _content(conn, owner_id, params)
        if content is None:
            document_id = getattr(params, "document_id", None)
            raise RequestInvalid(
                f"you have no document {document_id}"
                if document_id
                else "you have no default document: create one first",
                code="document_missing",
                errors=[
                    {
                        "field": "params.document_id",
                        "message": "no such document" if document_id else "no default document",
                    }
                ],
            )
        return content


def _content(conn: Connection, owner_id: str, params: BaseModel) -> dict[str, Any] | None:
    assert isinstance(params, ResumeParams)
    query = select(documents.c.content).where(documents.c.owner_id == owner_id)
    query = query.where(_which(params))
    content = conn.execute(query).scalar()
    return None if content is None else dict(content)


def _which(params: ResumeParams) -> ColumnElement[bool]:
    """The document asked for: by its id, else the default one."""
    if params.document_id is not None:
        return documents.c.id == params.document_id
    return documents.c.is_default


RESUME = ResumeSource(
    name="resume",
    title="Resume",
    kind="document",
    params_model=ResumeParams,
    formats=("pdf", "html"),
)

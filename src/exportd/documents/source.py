"""The built-in ``resume`` source: a document from the store, rendered with a template."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, select

from exportd.db.tables import documents
from exportd.errors import TerminalJobError
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
        assert isinstance(params, ResumeParams)
        query = select(documents.c.content).where(documents.c.owner_id == owner_id)
        if params.document_id is not None:
            query = query.where(documents.c.id == params.document_id)
        else:
            query = query.where(documents.c.is_default)
        content = conn.execute(query).scalar()
        if content is None:
            raise TerminalJobError(
                "the document no longer exists"
                if params.document_id
                else "there is no default document",
                code="document_not_found",
            )
        return dict(content)


RESUME = ResumeSource(
    name="resume",
    title="Resume",
    kind="document",
    params_model=ResumeParams,
    formats=("pdf", "html"),
)

"""/v1/documents: the resume store (CRUD, the default document)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated, Any

from fastapi import Request, Response, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, model_validator

from exportd.api.deps import Documents, ReadDocuments, WriteDocuments
from exportd.api.routers import api_router
from exportd.documents.jsonresume import to_resume
from exportd.documents.jsonresume_schema import JsonResume
from exportd.documents.models import Resume
from exportd.documents.preview import PREVIEW_HEADERS, Previews
from exportd.documents.service import Document

router = api_router(prefix="/v1/documents", tags=["documents"])


def _an_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("Input should be a valid dictionary")  # pydantic's own words
    return value


# Documented as the resume it must be; checked by the document service, which names the
# fields at fault under ``content.`` (422 document_invalid, document_too_large).
ResumeContent = Annotated[
    dict[str, Any] | None, PlainValidator(_an_object, json_schema_input_type=Resume)
]
# The same for a JSON Resume: mapped onto the resume, its fields named by JSON pointer
# (422 jsonresume_invalid). Either may be left out, neither is ever null.
JsonResumeContent = Annotated[
    dict[str, Any] | None, PlainValidator(_an_object, json_schema_input_type=JsonResume)
]


def _exactly_one(schema: dict[str, Any]) -> None:
    """The schema says "exactly one" too (so no request that fits it is refused), and no
    ``null`` default for what is never null."""
    schema["oneOf"] = [{"required": ["content"]}, {"required": ["jsonresume"]}]
    for name in ("content", "jsonresume"):
        schema["properties"][name].pop("default", None)


class _Content(BaseModel):
    """A resume as exportd's ``content`` or as a JSON Resume: exactly one of them."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_exactly_one)

    content: ResumeContent = Field(default=None, description="exportd's resume")
    jsonresume: JsonResumeContent = Field(
        default=None,
        description="a JSON Resume (schema v1), mapped onto exportd's resume when stored",
    )

    @model_validator(mode="after")
    def _one_of_them(self) -> _Content:
        if (self.content is None) == (self.jsonresume is None):
            raise ValueError("give exactly one of `content` and `jsonresume`")
        return self

    def resume(self) -> dict[str, Any]:
        """exportd's resume content (a JSON Resume validated and mapped: a 422 naming its
        fields by JSON pointer when it does not fit)."""
        if self.jsonresume is not None:
            return to_resume(self.jsonresume).model_dump(mode="json", exclude_none=True)
        assert self.content is not None
        return self.content


class DocumentIn(_Content):
    title: str = Field(min_length=1, max_length=200)


class DocumentUpdate(_Content):
    title: str | None = Field(default=None, min_length=1, max_length=200)


class DocumentOut(BaseModel):
    id: str
    title: str
    content: dict[str, Any]
    is_default: bool
    sections: list[str]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, document: Document) -> DocumentOut:
        return cls.model_validate(dataclasses.asdict(document))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=DocumentOut)
def create_document(
    body: DocumentIn, principal: WriteDocuments, documents: Documents
) -> DocumentOut:
    """Store a resume, given as exportd's `content` or as a JSON Resume (`jsonresume`).
    The first one becomes the default."""
    return DocumentOut.of(documents.create(principal, title=body.title, content=body.resume()))


@router.get("", response_model=list[DocumentOut])
def list_documents(principal: ReadDocuments, documents: Documents) -> list[DocumentOut]:
    """The caller's documents, most recently updated first."""
    return [DocumentOut.of(d) for d in documents.list_documents(principal)]


@router.get("/default", response_model=DocumentOut)
def get_default_document(principal: ReadDocuments, documents: Documents) -> DocumentOut:
    """The caller's default document."""
    return DocumentOut.of(documents.default(principal))


@router.get("/{document_id}", response_model=DocumentOut)
def get_document(document_id: str, principal: ReadDocuments, documents: Documents) -> DocumentOut:
    """One of the caller's documents."""
    return DocumentOut.of(documents.get(principal, document_id))


@router.put("/{document_id}", response_model=DocumentOut)
def update_document(
    document_id: str, body: DocumentUpdate, principal: WriteDocuments, documents: Documents
) -> DocumentOut:
    """Replace a document's content (and optionally its title), from exportd's `content`
    or a JSON Resume (`jsonresume`)."""
    return DocumentOut.of(
        documents.update(principal, document_id, title=body.title, content=body.resume())
    )


@router.patch("/{document_id}/default", response_model=DocumentOut)
def set_default_document(
    document_id: str, principal: WriteDocuments, documents: Documents
) -> DocumentOut:
    """Make this document the default one."""
    return DocumentOut.of(documents.make_default(principal, document_id))


@router.delete("/{document_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_document(document_id: str, principal: WriteDocuments, documents: Documents) -> Response:
    """Delete a document; its queued and running exports are cancelled."""
    cancelled = documents.delete(principal, document_id)
    return Response(status_code=204, headers={"X-Cancelled-Exports": str(cancelled)})


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: str | None = Field(default=None, max_length=64)


@router.post("/{document_id}/preview", response_class=HTMLResponse)
def preview_document(
    document_id: str,
    body: PreviewIn,
    principal: ReadDocuments,
    documents: Documents,
    request: Request,
) -> HTMLResponse:
    """The document as HTML with a template, at once (rate-limited): for an editor."""
    previews: Previews = request.app.state.previews
    html = documents.preview(principal, document_id, body.template, previews=previews)
    return HTMLResponse(html, headers=PREVIEW_HEADERS)

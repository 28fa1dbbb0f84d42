"""/v1/documents: the resume store (CRUD, the default document)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field

from exportd.api.deps import CurrentPrincipal, Documents
from exportd.documents.service import Document

router = APIRouter(prefix="/v1/documents", tags=["documents"])


class DocumentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    content: dict[str, Any]


class DocumentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=200)
    content: dict[str, Any]


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
    body: DocumentIn, principal: CurrentPrincipal, documents: Documents
) -> DocumentOut:
    """Store a resume. The first one becomes the default."""
    return DocumentOut.of(documents.create(principal, title=body.title, content=body.content))


@router.get("", response_model=list[DocumentOut])
def list_documents(principal: CurrentPrincipal, documents: Documents) -> list[DocumentOut]:
    """The caller's documents, most recently updated first."""
    return [DocumentOut.of(d) for d in documents.list_documents(principal)]


@router.get("/default", response_model=DocumentOut)
def default_document(principal: CurrentPrincipal, documents: Documents) -> DocumentOut:
    """The caller's default document."""
    return DocumentOut.of(documents.default(principal))


@router.get("/{document_id}", response_model=DocumentOut)
def get_document(
    document_id: str, principal: CurrentPrincipal, documents: Documents
) -> DocumentOut:
    return DocumentOut.of(documents.get(principal, document_id))


@router.put("/{document_id}", response_model=DocumentOut)
def update_document(
    document_id: str, body: DocumentUpdate, principal: CurrentPrincipal, documents: Documents
) -> DocumentOut:
    """Replace a document's content (and optionally its title)."""
    return DocumentOut.of(
        documents.update(principal, document_id, title=body.title, content=body.content)
    )


@router.patch("/{document_id}/default", response_model=DocumentOut)
def make_default(
    document_id: str, principal: CurrentPrincipal, documents: Documents
) -> DocumentOut:
    """Make this document the default one."""
    return DocumentOut.of(documents.make_default(principal, document_id))


@router.delete("/{document_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_document(
    document_id: str, principal: CurrentPrincipal, documents: Documents
) -> Response:
    """Delete a document; its queued and running exports are cancelled."""
    cancelled = documents.delete(principal, document_id)
    return Response(status_code=204, headers={"X-Cancelled-Exports": str(cancelled)})

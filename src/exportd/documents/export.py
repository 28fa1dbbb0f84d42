"""A document export in a worker: load the owner's document, check it against the
template, render it.  Storing the bytes is the export task's business."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Row, select

from exportd.db import Database
from exportd.db.tables import documents
from exportd.documents.models import Resume
from exportd.documents.render import Renderer, RenderOptions, check_sections
from exportd.documents.source import ResumeParams
from exportd.documents.templates import builtin_catalogue
from exportd.errors import TerminalJobError
from exportd.exports.models import PlanLimits

CONTENT_TYPES = {"pdf": "application/pdf", "html": "text/html; charset=utf-8"}


@dataclass(frozen=True, slots=True)
class Rendered:
    data: bytes
    filename: str
    content_type: str
    template: str
    template_version: str


def render_export(
    db: Database,
    export: Row[Any],
    plan: PlanLimits,
    params: ResumeParams,
    renderer: Renderer,
    *,
    max_pages: int,
) -> Rendered:
    with db.read() as conn:
        query = select(documents).where(documents.c.owner_id == export.owner_id)
        if params.document_id is not None:
            query = query.where(documents.c.id == params.document_id)
        else:
            query = query.where(documents.c.is_default)
        document = conn.execute(query).first()
    if document is None:
        raise TerminalJobError(
            "the document no longer exists"
            if params.document_id
            else "there is no default document",
            code="document_not_found",
        )
    try:
        resume = Resume.model_validate(document.content)
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
        raise TerminalJobError(
            f"the document is not valid: {fields}", code="document_invalid"
        ) from None
    template = builtin_catalogue().get(export.template)
    if template is None:
        raise TerminalJobError(f"no template named {export.template!r}", code="template_unknown")
    check_sections(resume, template)
    options = RenderOptions(
        paper=params.page_size or template.manifest.page_size,
        watermark=plan.watermark,
        max_pages=max_pages,
    )
    data = renderer.render(template, resume.model_dump(mode="json"), export.format, options)
    slug = _slug(resume.profile.name)
    return Rendered(
        data=data,
        filename=f"{slug}-resume-{export.id[:8]}.{export.format}",
        content_type=CONTENT_TYPES[export.format],
        template=template.name,
        template_version=template.manifest.version,
    )


def _slug(name: str) -> str:
    """``Zoë Ångström`` -> ``zoe-angstrom``: safe in every filesystem and header."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:40] or "resume"

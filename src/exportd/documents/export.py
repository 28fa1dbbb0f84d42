"""A document export in a worker: check the source's document against the template,
render it.  Loading it is the source's business, storing the bytes the export task's."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast, get_args

from anyascii import anyascii
from pydantic import ValidationError
from sqlalchemy import Row

from exportd.documents.models import Resume
from exportd.documents.render import FIXED_DATE, Renderer, RenderOptions, check_sections
from exportd.documents.templates import PageSize, builtin_catalogue
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
    export: Row[Any],
    plan: PlanLimits,
    content: dict[str, Any],
    renderer: Renderer,
    *,
    page_size: str | None,
    max_pages: int,
    changed: datetime | None = None,
) -> Rendered:
    """``content`` is the source's document: checked against the resume shape and the
    template's sections, then rendered."""
    try:
        resume = Resume.model_validate(content)
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
        raise TerminalJobError(
            f"the document is not valid: {fields}", code="document_invalid"
        ) from None
    template = builtin_catalogue().get(export.template)
    if template is None:
        raise TerminalJobError(f"no template named {export.template!r}", code="template_unknown")
    check_sections(resume, template)
    paper = page_size or template.manifest.page_size
    if paper not in get_args(PageSize):  # a plugin's params model may let anything through
        raise TerminalJobError(f"page size {paper!r} is not a4 or letter", code="params_invalid")
    standard = (export.options or {}).get("pdf_standard") if export.format == "pdf" else None
    options = RenderOptions(
        paper=cast(PageSize, paper),
        watermark=plan.watermark,
        max_pages=max_pages,
        pdf_standard=standard,
        # The document's last change dates the PDF: same document, same bytes.
        created=changed.astimezone(UTC).isoformat() if changed else FIXED_DATE,
    )
    data = renderer.render(template, resume.model_dump(mode="json"), export.format, options)
    # A name with nothing to transliterate (only emoji or punctuation) leaves the
    # source's name alone: "resume-1a2b3c4d.pdf", not "resume-resume-…".
    stem = "-".join(part for part in (filename_slug(resume.profile.name), export.source) if part)
    return Rendered(
        data=data,
        filename=f"{stem}-{export.id[:8]}.{export.format}",
        content_type=CONTENT_TYPES[export.format],
        template=template.name,
        template_version=template.manifest.version,
    )


def filename_slug(name: str) -> str:
    """``Łukasz Żółw`` -> ``lukasz-zolw``, ``Дмитрий`` -> ``dmitriy``, ``王小明`` ->
    ``wangxiaoming``: the name transliterated to ASCII (anyascii, ISC), safe in every
    filesystem, header, storage key and e-mail attachment.  Unicode decomposition alone
    drops letters with no ASCII base (Ł, ø, ß) and whole non-Latin names."""
    ascii_name = anyascii(name).lower().replace("'", "")  # O'Brien -> obrien, not o-brien
    ascii_name = _EMOJI_NAME.sub(" ", ascii_name)  # "Ana 🌸" -> "ana", not "ana-cherry-blossom"
    return re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")[:40].rstrip("-")


# anyascii spells an emoji as its name between colons (":cherry_blossom:").
_EMOJI_NAME = re.compile(r":[a-z0-9_+-]+:")

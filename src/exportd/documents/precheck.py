"""A document export checked when it is asked for: the document is there and fits the
template, or the request is a 422 and nothing is queued.  The worker checks again (the
document may change in between); a source whose document is costly to build leaves the
check to the worker alone (``DocumentSource.precheck_document``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection

from exportd.documents.models import Resume
from exportd.documents.render import misfit
from exportd.documents.templates import builtin_catalogue
from exportd.errors import RequestInvalid
from exportd.sources import DocumentSource, SourceRegistry


def check_document(
    conn: Connection,
    source: DocumentSource,
    *,
    owner_id: str,
    params: BaseModel,
    template: str,
) -> None:
    content = source.precheck_document(conn, owner_id, params)
    if content is None:
        return
    try:
        resume = Resume.model_validate(content)
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
        raise RequestInvalid(
            f"the document is not valid: {fields}",
            code="document_invalid",
            errors=[{"field": "params", "message": f"the document's {fields}"}],
        ) from None
    chosen = builtin_catalogue().get(template)
    found = None if chosen is None else misfit(resume.section_names(), chosen)
    if found is not None:
        raise RequestInvalid(
            found.message,
            code=found.code,
            errors=[{"field": "template", "message": found.reason}],
        )


def check_asked_document(
    conn: Connection, sources: SourceRegistry, owner_id: str, normalized: dict[str, Any]
) -> None:
    """An export request (normalized) of a document source: its document is there and
    fits the template, in the request's transaction, not failed by the worker later."""
    source = sources.get(normalized["source"])
    if not isinstance(source, DocumentSource):
        return
    check_document(
        conn,
        source,
        owner_id=owner_id,
        params=source.params_model.model_validate(normalized["params"]),
        template=normalized["template"],
    )

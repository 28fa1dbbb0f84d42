"""/v1/sources, /v1/templates and /v1/me/usage: what can be exported, how, and how much
is left."""

from __future__ import annotations

from exportd.api.deps import Exports, ReadExports, Sources
from exportd.api.routers import api_router
from exportd.api.schemas import SourceOut, TemplateOut, Usage
from exportd.documents.templates import builtin_catalogue

router = api_router(prefix="/v1", tags=["catalogue"])


@router.get("/sources", response_model=list[SourceOut])
def list_sources(principal: ReadExports, sources: Sources) -> list[SourceOut]:
    """Sources the caller may export from: params schema, columns, presets, formats."""
    return [SourceOut(**s.describe()) for s in sources.all() if s.allows(principal)]


@router.get("/templates", response_model=list[TemplateOut])
def list_templates(_principal: ReadExports) -> list[TemplateOut]:
    """Document templates: name, version, engine, formats, required sections, page size."""
    return [TemplateOut.model_validate(t.describe()) for t in builtin_catalogue().all()]


@router.get("/me/usage", response_model=Usage)
def get_usage(principal: ReadExports, exports: Exports) -> Usage:
    """The caller's plan limits, current usage and what remains."""
    return Usage(**exports.usage(principal))

"""/v1/sources and /v1/me/usage: what can be exported, and how much is left."""

from __future__ import annotations

from fastapi import APIRouter

from exportd.api.deps import CurrentPrincipal, Exports, Sources
from exportd.api.schemas import SourceOut, Usage

router = APIRouter(prefix="/v1", tags=["catalogue"])


@router.get("/sources", response_model=list[SourceOut])
def list_sources(principal: CurrentPrincipal, sources: Sources) -> list[SourceOut]:
    """Sources the caller may export from: params schema, columns, presets, formats."""
    return [SourceOut(**s.describe()) for s in sources.all() if s.allows(principal)]


@router.get("/me/usage", response_model=Usage)
def my_usage(principal: CurrentPrincipal, exports: Exports) -> Usage:
    """The caller's plan limits, current usage and what remains."""
    return Usage(**exports.usage(principal))

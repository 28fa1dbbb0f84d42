"""Sources for the API and service tests: the demo trades source, and a document-shaped
resume source that only declares its params (rendering comes with the document issue)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from exportd.demo.sources import TradesSource
from exportd.sources import Source, SourceRegistry


class ResumeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    document_id: str | None = None


RESUME = Source(
    name="resume",
    title="Resume",
    kind="document",
    params_model=ResumeParams,
    formats=("pdf", "html"),
)


def fake_sources() -> SourceRegistry:
    return SourceRegistry([TradesSource(), RESUME])

"""The built-in ``resume`` source: a document from the store, rendered with a template."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from exportd.sources.base import Source


class ResumeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    document_id: str | None = Field(
        default=None, max_length=32, description="the document; the default one when absent"
    )
    page_size: Literal["a4", "letter"] | None = Field(
        default=None, description="the template's own page size when absent"
    )


RESUME = Source(
    name="resume",
    title="Resume",
    kind="document",
    params_model=ResumeParams,
    formats=("pdf", "html"),
)

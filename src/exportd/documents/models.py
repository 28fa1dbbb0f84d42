"""A resume as JSON: profile, work, education, skills and further titled sections.

Every text field, every list and the whole document have a length limit, checked when a
document is written: a preview or an export then costs at most what the largest valid
document costs (measured: ~0.6 s of Typst for the worst 32 KiB, see docs/documents.md),
never what a megabyte of text would (7 s).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

# The whole document as stored (compact JSON, UTF-8): a page of prose is ~5 KB of it.
MAX_DOCUMENT_BYTES = 32 * 1024

# A list entry: a highlight, a skill, a custom section's item.
Item = Annotated[str, StringConstraints(max_length=500)]
Skill = Annotated[str, StringConstraints(max_length=100)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Link(_Strict):
    label: str = Field(min_length=1, max_length=100)
    url: str = Field(min_length=1, max_length=2048, pattern=r"^(https?://|mailto:)")


class Profile(_Strict):
    name: str = Field(min_length=1, max_length=200)
    headline: str | None = Field(default=None, max_length=300)
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    phone: str | None = Field(default=None, max_length=64)
    location: str | None = Field(default=None, max_length=200)
    summary: str | None = Field(default=None, max_length=5000)
    links: list[Link] = Field(default_factory=list, max_length=20)


Period = Field(default=None, pattern=r"^\d{4}(-(0[1-9]|1[0-2]))?$", description="YYYY or YYYY-MM")


class WorkItem(_Strict):
    organisation: str = Field(min_length=1, max_length=200)
    role: str = Field(min_length=1, max_length=200)
    start: str | None = Period
    end: str | None = Period
    location: str | None = Field(default=None, max_length=200)
    highlights: list[Item] = Field(default_factory=list, max_length=30)


class EducationItem(_Strict):
    institution: str = Field(min_length=1, max_length=200)
    qualification: str | None = Field(default=None, max_length=200)
    start: str | None = Period
    end: str | None = Period
    notes: str | None = Field(default=None, max_length=2000)


class CustomSection(_Strict):
    title: str = Field(min_length=1, max_length=100)
    items: list[Item] = Field(default_factory=list, max_length=50)


class Resume(_Strict):
    profile: Profile
    work: list[WorkItem] = Field(default_factory=list, max_length=50)
    education: list[EducationItem] = Field(default_factory=list, max_length=30)
    skills: list[Skill] = Field(default_factory=list, max_length=100)
    sections: list[CustomSection] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _fits(self) -> Resume:
        # Each field fits on its own, yet together they could reach ~1.4 MB: the whole
        # document has its own limit, counted as it is stored.
        size = len(self.model_dump_json(exclude_none=True).encode())
        if size > MAX_DOCUMENT_BYTES:
            raise PydanticCustomError(
                "document_too_large",
                "the document is {size} bytes as JSON; at most {limit} are allowed",
                {"size": size, "limit": MAX_DOCUMENT_BYTES},
            )
        return self

    def section_names(self) -> list[str]:
        """The sections present, in order: built-ins that have content, then custom ones."""
        names = ["profile"]
        names += [name for name in ("work", "education", "skills") if getattr(self, name)]
        names += [section.title for section in self.sections]
        return names

"""A resume as JSON: profile, work, education, skills and further titled sections."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

Text = Field(min_length=1, max_length=300)


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


Period = Field(default=None, pattern=r"^\d{4}(-\d{2})?$", description="YYYY or YYYY-MM")


class WorkItem(_Strict):
    organisation: str = Field(min_length=1, max_length=200)
    role: str = Field(min_length=1, max_length=200)
    start: str | None = Period
    end: str | None = Period
    location: str | None = Field(default=None, max_length=200)
    highlights: list[str] = Field(default_factory=list, max_length=30)


class EducationItem(_Strict):
    institution: str = Field(min_length=1, max_length=200)
    qualification: str | None = Field(default=None, max_length=200)
    start: str | None = Period
    end: str | None = Period
    notes: str | None = Field(default=None, max_length=2000)


class CustomSection(_Strict):
    title: str = Field(min_length=1, max_length=100)
    items: list[str] = Field(default_factory=list, max_length=50)


class Resume(_Strict):
    profile: Profile
    work: list[WorkItem] = Field(default_factory=list, max_length=50)
    education: list[EducationItem] = Field(default_factory=list, max_length=30)
    skills: list[str] = Field(default_factory=list, max_length=100)
    sections: list[CustomSection] = Field(default_factory=list, max_length=50)

    def section_names(self) -> list[str]:
        """The sections present, in order: built-ins that have content, then custom ones."""
        names = ["profile"]
        names += [name for name in ("work", "education", "skills") if getattr(self, name)]
        names += [section.title for section in self.sections]
        return names

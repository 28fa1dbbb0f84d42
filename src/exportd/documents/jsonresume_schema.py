"""The JSON Resume schema (jsonresume.org, v1; npm ``resume-schema`` 1.0.1) as pydantic
models: every property at its place and type, no property required, unknown properties
allowed inside each object but not at the top, dates ISO 8601 partial and on the
calendar.  What exportd needs beyond the schema is required here too (see
:mod:`exportd.documents.jsonresume`)."""

from __future__ import annotations

import calendar
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

# The schema's own pattern for its ``iso8601`` definition.
ISO8601 = r"^([1-2][0-9]{3}-[0-1][0-9]-[0-3][0-9]|[1-2][0-9]{3}-[0-1][0-9]|[1-2][0-9]{3})$"


def _on_the_calendar(value: str) -> str:
    parts = [int(part) for part in value.split("-")]
    if len(parts) > 1 and not 1 <= parts[1] <= 12:
        raise ValueError(f"{value} is not a date: there is no month {parts[1]:02d}")
    if len(parts) > 2 and not 1 <= parts[2] <= calendar.monthrange(parts[0], parts[1])[1]:
        raise ValueError(f"{value} is not a date: its month has no day {parts[2]:02d}")
    return value


Date = Annotated[
    str,
    Field(pattern=ISO8601, description="ISO 8601: YYYY, YYYY-MM or YYYY-MM-DD"),
    AfterValidator(_on_the_calendar),
]
Strings = list[str]
T = TypeVar("T")


def _not_null(value: T | None) -> T:
    if value is None:  # the schema's types are never null
        raise ValueError("null is not allowed: leave the property out")
    return value


# A property that may be left out, but is never null.
Opt = Annotated[T | None, BeforeValidator(_not_null)]


def _without_null(schema: dict[str, Any]) -> None:
    """The JSON Schema as the standard's: ``type: string``, not ``string or null``."""
    for prop in schema.get("properties", {}).values():
        choices = prop.pop("anyOf", None)
        if choices is not None:
            (kept,) = [choice for choice in choices if choice != {"type": "null"}]
            prop.update(kept)
        if "default" in prop and prop["default"] is None:
            del prop["default"]


class _Open(BaseModel):
    """An object of the schema: its properties typed, others allowed (and not kept)."""

    model_config = ConfigDict(
        extra="allow", alias_generator=to_camel, json_schema_extra=_without_null
    )


class JsonResumeLocation(_Open):
    address: Opt[str] = None
    postal_code: Opt[str] = None
    city: Opt[str] = None
    country_code: Opt[str] = Field(default=None, description="ISO-3166-1 ALPHA-2")
    region: Opt[str] = None


class JsonResumeSocialProfile(_Open):
    network: Opt[str] = None
    username: Opt[str] = None
    url: Opt[str] = None


class JsonResumeBasics(_Open):
    name: str = Field(description="required by exportd")
    label: Opt[str] = None
    image: Opt[str] = Field(default=None, description="not kept: templates fetch nothing")
    email: Opt[str] = None
    phone: Opt[str] = None
    url: Opt[str] = None
    summary: Opt[str] = None
    location: Opt[JsonResumeLocation] = None
    profiles: Opt[list[JsonResumeSocialProfile]] = None


class Engagement(_Open):
    """What a work and a volunteer entry both have."""

    position: str = Field(description="required by exportd")
    url: Opt[str] = None
    start_date: Opt[Date] = None
    end_date: Opt[Date] = None
    summary: Opt[str] = None
    highlights: Opt[Strings] = None


class JsonResumeWork(Engagement):
    name: str = Field(description="required by exportd")
    location: Opt[str] = None
    description: Opt[str] = None


class JsonResumeVolunteer(Engagement):
    organization: str = Field(description="required by exportd")


class JsonResumeEducation(_Open):
    institution: str = Field(description="required by exportd")
    url: Opt[str] = None
    area: Opt[str] = None
    study_type: Opt[str] = None
    start_date: Opt[Date] = None
    end_date: Opt[Date] = None
    score: Opt[str] = None
    courses: Opt[Strings] = None


class JsonResumeAward(_Open):
    title: Opt[str] = None
    date: Opt[Date] = None
    awarder: Opt[str] = None
    summary: Opt[str] = None


class JsonResumeCertificate(_Open):
    name: Opt[str] = None
    date: Opt[Date] = None
    url: Opt[str] = None
    issuer: Opt[str] = None


class JsonResumePublication(_Open):
    name: Opt[str] = None
    publisher: Opt[str] = None
    release_date: Opt[Date] = None
    url: Opt[str] = None
    summary: Opt[str] = None


class JsonResumeSkill(_Open):
    name: Opt[str] = None
    level: Opt[str] = None
    keywords: Opt[Strings] = None


class JsonResumeLanguage(_Open):
    language: Opt[str] = None
    fluency: Opt[str] = None


class JsonResumeInterest(_Open):
    name: Opt[str] = None
    keywords: Opt[Strings] = None


class JsonResumeReference(_Open):
    name: Opt[str] = None
    reference: Opt[str] = None


class JsonResumeProject(_Open):
    name: Opt[str] = None
    description: Opt[str] = None
    highlights: Opt[Strings] = None
    keywords: Opt[Strings] = None
    start_date: Opt[Date] = None
    end_date: Opt[Date] = None
    url: Opt[str] = None
    roles: Opt[Strings] = None
    entity: Opt[str] = None
    type: Opt[str] = None


class JsonResumeMeta(_Open):
    canonical: Opt[str] = None
    version: Opt[str] = None
    last_modified: Opt[str] = None


class JsonResume(BaseModel):
    """A resume as JSON Resume schema v1 (https://jsonresume.org/schema)."""

    model_config = ConfigDict(extra="forbid", title="JsonResume", json_schema_extra=_without_null)

    schema_: Opt[str] = Field(default=None, alias="$schema")
    basics: JsonResumeBasics
    work: Opt[list[JsonResumeWork]] = None
    volunteer: Opt[list[JsonResumeVolunteer]] = None
    education: Opt[list[JsonResumeEducation]] = None
    awards: Opt[list[JsonResumeAward]] = None
    certificates: Opt[list[JsonResumeCertificate]] = None
    publications: Opt[list[JsonResumePublication]] = None
    skills: Opt[list[JsonResumeSkill]] = None
    languages: Opt[list[JsonResumeLanguage]] = None
    interests: Opt[list[JsonResumeInterest]] = None
    references: Opt[list[JsonResumeReference]] = None
    projects: Opt[list[JsonResumeProject]] = None
    meta: Opt[JsonResumeMeta] = None

"""JSON Resume (jsonresume.org, schema v1) in, exportd's resume out.

``JsonResume`` mirrors the published schema (npm ``resume-schema`` 1.0.1, ``schema.json``):
every property at its place and type, no property required, unknown properties allowed
inside each object but not at the top, dates ISO 8601 partial (``YYYY``, ``YYYY-MM``,
``YYYY-MM-DD``). A test holds this mirror to the npm package's schema and checks that
its validator and ours agree on the same documents. Beyond the schema exportd needs what
its templates cannot do without: ``basics.name``, a work entry's ``name`` and
``position`` (a volunteer entry's ``organization`` and ``position``), an education
entry's ``institution``; and a date must be one of the calendar (the schema's pattern
lets ``2014-13-45`` through).

``to_resume`` maps it onto :class:`~exportd.documents.models.Resume`: what the templates
show goes to its field; what they have no field for becomes a titled section
(``Projects``, ``Languages``, ``Awards``…), one line per entry, so nothing of the resume
is dropped. Only ``$schema``, ``meta`` (tooling), ``basics.image`` (templates fetch
nothing) and properties outside the schema are not kept. A native limit that the mapped
resume breaks is reported at the JSON Resume field it came from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import (
    ValidationError,
)

from exportd.documents.jsonresume_schema import (
    Engagement,
    JsonResume,
    JsonResumeBasics,
    JsonResumeWork,
)
from exportd.documents.models import Resume
from exportd.errors import RequestInvalid

# -- mapping -----------------------------------------------------------------------------

Loc = tuple[str | int, ...]
# A skill as one chip of the ``skills`` list, while it fits the list's 100 characters.
SKILL_CHIP = 100


@dataclass
class _Mapped:
    """The resume being built, and where each of its parts came from (a JSON pointer)."""

    content: dict[str, Any] = field(default_factory=dict)
    origin: dict[Loc, str] = field(default_factory=lambda: {(): ""})
    sections: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def add_to_section(self, title: str, text: str, pointer: str) -> None:
        self.sections.setdefault(title, []).append((text, pointer))


def _text(value: str | None) -> str | None:
    """The text, or None for a missing or blank one (builders write ``""`` for unset)."""
    value = (value or "").strip()
    return value or None


def _month(date: str | None) -> str | None:
    """exportd's periods are YYYY or YYYY-MM: a day is not shown."""
    return date[:7] if date else None


DASH = "\N{EN DASH}"


def _period(start: str | None, end: str | None) -> str | None:
    start, end = _month(start), _month(end)
    if start and end:
        return start if start == end else f"{start} {DASH} {end}"
    if start:
        return f"{start} {DASH} present"
    return end


def _line(head: Iterable[str | None], when: str | None, body: Iterable[str | None]) -> str:
    """One line of a section: ``Title — by (when): part · part``."""
    line = " — ".join(filter(None, head))
    if when:
        line = f"{line} ({when})" if line else when
    parts = " · ".join(filter(None, body))
    return f"{line}: {parts}" if line and parts else line or parts


def _labelled(label: str, values: Sequence[str] | None) -> str | None:
    values = [v for v in map(_text, values or ()) if v]
    return f"{label}: {', '.join(values)}" if values else None


def _is_link(url: str) -> bool:
    return url.startswith(("https://", "http://", "mailto:"))


# exportd's profile field, and the ``basics`` property it comes from.
_PROFILE = (
    ("name", "name"),
    ("headline", "label"),
    ("email", "email"),
    ("phone", "phone"),
    ("summary", "summary"),
)


def _basics(basics: JsonResumeBasics, out: _Mapped) -> None:
    profile: dict[str, Any] = {"name": basics.name, "links": []}
    for ours, theirs in _PROFILE:
        value = _text(getattr(basics, theirs))
        if value is not None:
            profile[ours] = value
        out.origin[("profile", ours)] = f"/basics/{theirs}"
    if basics.location is not None:
        where = basics.location
        parts = (where.address, where.city, where.region, where.postal_code, where.country_code)
        lines = [_text(part) for part in parts]
        location = ", ".join(" ".join(line.split()) for line in lines if line)
        if location:
            profile["location"] = location
        out.origin[("profile", "location")] = "/basics/location"
    links: list[tuple[str, str, str]] = []
    if url := _text(basics.url):
        links.append(("Website", url, "/basics/url"))
    for index, social in enumerate(basics.profiles or ()):
        pointer = f"/basics/profiles/{index}"
        network, username = _text(social.network), _text(social.username)
        if url := _text(social.url):
            links.append((network or username or "Profile", url, pointer))
        elif username:
            out.add_to_section(
                "Profiles", f"{network}: {username}" if network else username, pointer
            )
    for label, url, pointer in links:
        if _is_link(url):
            out.origin[("profile", "links", len(profile["links"]))] = pointer
            profile["links"].append({"label": label, "url": url})
        else:  # not a URL a reader can follow (``example.com``): kept as text
            out.add_to_section("Profiles", f"{label}: {url}", pointer)
    out.origin[("profile", "links")] = "/basics/profiles"
    out.content["profile"] = profile


def _dates(
    item: dict[str, Any], start: str | None, end: str | None, loc: Loc, pointer: str, out: _Mapped
) -> None:
    for ours, theirs, value in (("start", "startDate", start), ("end", "endDate", end)):
        if value:
            item[ours] = _month(value)
        out.origin[(*loc, ours)] = f"{pointer}/{theirs}"


def _experience(resume: JsonResume, out: _Mapped) -> None:
    entries: list[tuple[str, str, str, Engagement]] = [
        (f"/work/{i}", "name", w.position, w) for i, w in enumerate(resume.work or ())
    ]
    entries += [
        (f"/volunteer/{i}", "organization", f"{v.position} (volunteer)", v)
        for i, v in enumerate(resume.volunteer or ())
    ]
    work: list[dict[str, Any]] = []
    for index, (pointer, key, role, entry) in enumerate(entries):
        loc: Loc = ("work", index)
        item: dict[str, Any] = {"organisation": getattr(entry, key), "role": role}
        out.origin[(*loc, "organisation")] = f"{pointer}/{key}"
        out.origin[(*loc, "role")] = f"{pointer}/position"
        _dates(item, entry.start_date, entry.end_date, loc, pointer, out)
        if isinstance(entry, JsonResumeWork) and (location := _text(entry.location)):
            item["location"] = location
            out.origin[(*loc, "location")] = f"{pointer}/location"
        # What the templates have no field for leads the entry's bullets.
        bullets: list[tuple[str | None, str]] = []
        if isinstance(entry, JsonResumeWork):
            bullets.append((entry.description, f"{pointer}/description"))
        bullets.append((entry.summary, f"{pointer}/summary"))
        bullets += [(h, f"{pointer}/highlights/{n}") for n, h in enumerate(entry.highlights or ())]
        bullets.append((entry.url, f"{pointer}/url"))
        highlights: list[str] = []
        for text, source in bullets:
            if (value := _text(text)) is not None:
                out.origin[(*loc, "highlights", len(highlights))] = source
                highlights.append(value)
        item["highlights"] = highlights
        out.origin[loc] = pointer
        out.origin[(*loc, "highlights")] = pointer
        work.append(item)
    out.origin[("work",)] = "/work"
    out.content["work"] = work


def _education(resume: JsonResume, out: _Mapped) -> None:
    education: list[dict[str, Any]] = []
    for index, entry in enumerate(resume.education or ()):
        pointer, loc = f"/education/{index}", ("education", index)
        item: dict[str, Any] = {"institution": entry.institution}
        qualification = " in ".join(filter(None, (_text(entry.study_type), _text(entry.area))))
        if qualification:
            item["qualification"] = qualification
        _dates(item, entry.start_date, entry.end_date, loc, pointer, out)
        score = _labelled("Score", [entry.score] if entry.score else None)
        notes = ". ".join(
            filter(None, (score, _labelled("Courses", entry.courses), _text(entry.url)))
        )
        if notes:
            item["notes"] = notes
        out.origin[loc] = pointer
        out.origin[(*loc, "institution")] = f"{pointer}/institution"
        education.append(item)
    out.origin[("education",)] = "/education"
    out.content["education"] = education


def _skills(resume: JsonResume, out: _Mapped) -> None:
    chips: list[str] = []
    for index, skill in enumerate(resume.skills or ()):
        pointer = f"/skills/{index}"
        name = _text(skill.name)
        level = _text(skill.level)
        head = f"{name} ({level})" if name and level else name or level
        keywords = ", ".join(v for v in map(_text, skill.keywords or ()) if v)
        chip = f"{head}: {keywords}" if head and keywords else head or keywords
        if not chip:
            continue
        if len(chip) <= SKILL_CHIP:
            out.origin[("skills", len(chips))] = pointer
            chips.append(chip)
        else:  # too long for a chip: kept whole as a line
            out.add_to_section("More skills", chip, pointer)
    out.origin[("skills",)] = "/skills"
    out.content["skills"] = chips


def _entries(
    out: _Mapped,
    title: str,
    key: str,
    items: Sequence[Any] | None,
    line: Callable[[Any], str],
) -> None:
    for index, item in enumerate(items or ()):
        if text := line(item):
            out.add_to_section(title, text, f"/{key}/{index}")


def _sections(resume: JsonResume, out: _Mapped) -> None:
    t = _text
    _entries(
        out,
        "Projects",
        "projects",
        resume.projects,
        lambda p: _line(
            (t(p.name),),
            _period(p.start_date, p.end_date),
            (
                t(p.description),
                *map(t, p.highlights or ()),
                _labelled("Roles", p.roles),
                _labelled("Entity", [p.entity] if p.entity else None),
                _labelled("Type", [p.type] if p.type else None),
                _labelled("Keywords", p.keywords),
                t(p.url),
            ),
        ),
    )
    _entries(
        out,
        "Languages",
        "languages",
        resume.languages,
        lambda lang: _line((t(lang.language),), t(lang.fluency), ()),
    )
    _entries(
        out,
        "Awards",
        "awards",
        resume.awards,
        lambda a: _line((t(a.title), t(a.awarder)), _month(a.date), (t(a.summary),)),
    )
    _entries(
        out,
        "Certificates",
        "certificates",
        resume.certificates,
        lambda c: _line((t(c.name), t(c.issuer)), _month(c.date), (t(c.url),)),
    )
    _entries(
        out,
        "Publications",
        "publications",
        resume.publications,
        lambda p: _line(
            (t(p.name), t(p.publisher)), _month(p.release_date), (t(p.summary), t(p.url))
        ),
    )
    _entries(
        out,
        "Interests",
        "interests",
        resume.interests,
        lambda i: _line((t(i.name),), None, (", ".join(filter(None, map(t, i.keywords or ()))),)),
    )
    _entries(
        out,
        "References",
        "references",
        resume.references,
        lambda r: _line((t(r.name),), None, (t(r.reference),)),
    )
    sections = []
    for index, (title, lines) in enumerate(out.sections.items()):
        sections.append({"title": title, "items": [text for text, _ in lines]})
        out.origin[("sections", index)] = lines[0][1].rsplit("/", 1)[0] if lines else ""
        for n, (_, pointer) in enumerate(lines):
            out.origin[("sections", index, "items", n)] = pointer
    out.origin[("sections",)] = ""
    out.content["sections"] = sections


def map_resume(resume: JsonResume) -> tuple[dict[str, Any], dict[Loc, str]]:
    """exportd's resume content for a JSON Resume, and each part's JSON pointer."""
    out = _Mapped()
    _basics(resume.basics, out)
    _experience(resume, out)
    _education(resume, out)
    _skills(resume, out)
    _sections(resume, out)
    return out.content, out.origin


def to_resume(document: Any) -> Resume:
    """Validate a JSON Resume and map it; a 422 naming the JSON Resume field otherwise:
    ``jsonresume_invalid``, or ``document_too_large`` when the mapped resume is over its
    size."""
    try:
        resume = JsonResume.model_validate(document)
    except ValidationError as exc:
        raise RequestInvalid(
            "the JSON Resume does not validate against schema v1",
            code="jsonresume_invalid",
            errors=[_error(e["loc"], e["msg"]) for e in exc.errors()],
        ) from None
    content, origin = map_resume(resume)
    try:
        return Resume.model_validate(content)
    except ValidationError as exc:
        errors = exc.errors()
        if any(e["type"] == "document_too_large" for e in errors):
            raise RequestInvalid(
                errors[0]["msg"], code="document_too_large", errors=[_error((), errors[0]["msg"])]
            ) from None
        raise RequestInvalid(
            "the JSON Resume does not fit exportd's limits",
            code="jsonresume_invalid",
            errors=[_translated(e["loc"], e["msg"], origin) for e in errors],
        ) from None


def _pointer(loc: Sequence[str | int]) -> str:
    return "".join(f"/{str(part).replace('~', '~0').replace('/', '~1')}" for part in loc)


def _error(loc: Sequence[str | int], message: str, pointer: str | None = None) -> dict[str, object]:
    pointer = _pointer(loc) if pointer is None else pointer
    parts = [part.replace("~1", "/").replace("~0", "~") for part in pointer.split("/")[1:]]
    return {"field": ".".join(["jsonresume", *parts]), "pointer": pointer, "message": message}


def _translated(
    loc: Sequence[str | int], message: str, origin: dict[Loc, str]
) -> dict[str, object]:
    """A native error at the JSON Resume field its value came from (the longest known
    prefix of its place in the mapped resume)."""
    place = tuple(loc)
    while place not in origin:
        place = place[:-1]
    native = ".".join(map(str, loc))
    return _error((), f"{message} (as exportd's {native})", origin[place])

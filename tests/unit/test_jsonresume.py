"""JSON Resume onto exportd's resume: each field at its place, the rest in sections, and
a 422 that points at the JSON Resume field (RFC 6901) whatever went wrong."""

from __future__ import annotations

from typing import Any

import pytest

from exportd.documents.jsonresume import to_resume
from exportd.errors import RequestInvalid


def minimal(**extra: Any) -> dict[str, Any]:
    return {"basics": {"name": "Grace Hopper"}, **extra}


def mapped(document: dict[str, Any]) -> dict[str, Any]:
    return to_resume(document).model_dump(mode="json", exclude_none=True)


def refusal(document: Any) -> RequestInvalid:
    with pytest.raises(RequestInvalid) as caught:
        to_resume(document)
    return caught.value


def test_basics_become_the_profile_and_its_links() -> None:
    content = mapped(
        {
            "basics": {
                "name": "Grace Hopper",
                "label": "Rear admiral",
                "image": "https://example.com/me.jpg",
                "email": "grace@example.com",
                "phone": "+1 555 0100",
                "url": "https://grace.example.com",
                "summary": "Wrote the first compiler.",
                "location": {
                    "address": "1 Navy Way\nBuilding 2",
                    "postalCode": "20001",
                    "city": "Arlington",
                    "region": "Virginia",
                    "countryCode": "US",
                },
                "profiles": [
                    {"network": "GitHub", "username": "grace", "url": "https://github.com/grace"},
                    {"network": "Mastodon", "username": "@grace@example.social", "url": ""},
                    {"network": "Blog", "url": "grace.example.org"},
                    {"username": "ghopper"},
                ],
            }
        }
    )
    profile = content["profile"]
    assert profile == {
        "name": "Grace Hopper",
        "headline": "Rear admiral",
        "email": "grace@example.com",
        "phone": "+1 555 0100",
        "summary": "Wrote the first compiler.",
        "location": "1 Navy Way Building 2, Arlington, Virginia, 20001, US",
        "links": [
            {"label": "Website", "url": "https://grace.example.com"},
            {"label": "GitHub", "url": "https://github.com/grace"},
        ],
    }
    # No URL to follow: kept as text, not dropped. The image is not kept (nothing fetched).
    assert content["sections"] == [
        {
            "title": "Profiles",
            "items": ["Mastodon: @grace@example.social", "ghopper", "Blog: grace.example.org"],
        }
    ]
    assert "image" not in str(content)


def test_work_and_volunteer_keep_dates_and_highlights() -> None:
    content = mapped(
        minimal(
            work=[
                {
                    "name": "Remington Rand",
                    "position": "Director",
                    "location": "Philadelphia",
                    "description": "Computers",
                    "summary": "Led automatic programming.",
                    "startDate": "1949-06-15",
                    "endDate": "1967",
                    "highlights": ["FLOW-MATIC", ""],
                    "url": "https://example.com/univac",
                }
            ],
            volunteer=[{"organization": "Navy", "position": "Reserve", "startDate": "1943-12"}],
        )
    )
    assert content["work"] == [
        {
            "organisation": "Remington Rand",
            "role": "Director",
            "start": "1949-06",  # periods are months: the day is not shown
            "end": "1967",
            "location": "Philadelphia",
            "highlights": [
                "Computers",
                "Led automatic programming.",
                "FLOW-MATIC",
                "https://example.com/univac",
            ],
        },
        {
            "organisation": "Navy",
            "role": "Reserve (volunteer)",
            "start": "1943-12",
            "highlights": [],
        },
    ]


def test_education_skills_and_the_rest() -> None:
    content = mapped(
        minimal(
            education=[
                {
                    "institution": "Yale",
                    "area": "Mathematics",
                    "studyType": "PhD",
                    "startDate": "1930",
                    "endDate": "1934-06-01",
                    "score": "summa",
                    "courses": ["Algebra", "Number theory"],
                },
                {"institution": "Vassar"},
            ],
            skills=[
                {"name": "Compilers", "level": "Master", "keywords": ["A-0", "COBOL"]},
                {"name": "Languages", "keywords": [f"language number {n}" for n in range(10)]},
                {"keywords": ["Teaching"]},
            ],
            languages=[{"language": "English", "fluency": "Native"}],
            projects=[{"name": "COBOL", "startDate": "1959", "keywords": ["CODASYL"]}],
            awards=[{"title": "Medal", "awarder": "IEEE", "date": "1973-05-02"}],
            certificates=[{"name": "Navy", "issuer": "USN", "date": "1944"}],
            publications=[{"name": "The Education of a Computer", "releaseDate": "1952"}],
            interests=[{"name": "Clocks", "keywords": ["backwards"]}],
            references=[{"name": "Howard Aiken", "reference": "Able."}],
            meta={"version": "v1.0.0"},
        )
    )
    assert content["education"] == [
        {
            "institution": "Yale",
            "qualification": "PhD in Mathematics",
            "start": "1930",
            "end": "1934-06",
            "notes": "Score: summa. Courses: Algebra, Number theory",
        },
        {"institution": "Vassar"},
    ]
    assert content["skills"] == ["Compilers (Master): A-0, COBOL", "Teaching"]
    sections = {s["title"]: s["items"] for s in content["sections"]}
    # Over a chip's 100 characters: kept whole as a line.
    assert sections["More skills"][0].startswith("Languages: language number 0, ")
    assert sections["More skills"][0].endswith("language number 9")
    assert sections["Languages"] == ["English (Native)"]
    assert sections["Projects"] == ["COBOL (1959 \N{EN DASH} present): Keywords: CODASYL"]
    assert sections["Awards"] == ["Medal \N{EM DASH} IEEE (1973-05)"]
    assert sections["Certificates"] == ["Navy \N{EM DASH} USN (1944)"]
    assert sections["Publications"] == ["The Education of a Computer (1952)"]
    assert sections["Interests"] == ["Clocks: backwards"]
    assert sections["References"] == ["Howard Aiken: Able."]
    assert "v1.0.0" not in str(content)  # meta is the tools', not the resume's


@pytest.mark.parametrize(
    ("document", "pointer", "words"),
    [
        # The schema's pattern lets month 13 through; the calendar does not.
        (minimal(work=[{"name": "A", "position": "B", "startDate": "2014-13"}]),
         "/work/0/startDate", "no month 13"),
        (minimal(education=[{"institution": "A", "endDate": "2023-02-30"}]),
         "/education/0/endDate", "no day 30"),
        (minimal(projects=[{"startDate": "June 2020"}]), "/projects/0/startDate", "pattern"),
        (minimal(awards=[{"date": "2020-1-1"}]), "/awards/0/date", "pattern"),
        # Wrong types.
        ({"basics": {"name": 42}}, "/basics/name", "valid string"),
        (minimal(work={"name": "A"}), "/work", "valid list"),
        (minimal(skills=[{"keywords": "Python"}]), "/skills/0/keywords", "valid list"),
        (minimal(basics={"name": "A", "location": "Paris"}), "/basics/location", "dictionary"),
        # A resume wrapped in another object, or a property the schema does not have at the top.
        ({"resume": minimal()}, "/resume", "Extra inputs"),
        (minimal(photo="me.jpg"), "/photo", "Extra inputs"),
        # What exportd's templates cannot do without.
        ({"basics": {"label": "x"}}, "/basics/name", "required"),
        (minimal(work=[{"name": "A"}]), "/work/0/position", "required"),
        # exportd's limits, at the JSON Resume field the value came from.
        (minimal(work=[{"name": "A", "position": "B", "highlights": ["x", "y" * 501]}]),
         "/work/0/highlights/1", "at most 500"),
        (minimal(work=[{"name": "A", "position": "B", "summary": "y" * 501}]),
         "/work/0/summary", "at most 500"),
        (minimal(basics={"name": "A", "email": "not an address"}), "/basics/email", "pattern"),
        (minimal(references=[{"name": "A"}, {"name": "B", "reference": "y" * 600}]),
         "/references/1", "at most 500"),
        (minimal(skills=[{"name": f"s{n}"} for n in range(101)]), "/skills", "at most 100"),
    ],
)  # fmt: skip
def test_an_invalid_resume_is_a_422_pointing_at_the_field(
    document: dict[str, Any], pointer: str, words: str
) -> None:
    refused = refusal(document)
    assert refused.code == "jsonresume_invalid"
    (error,) = [e for e in refused.errors if e["pointer"] == pointer] or [refused.errors]
    assert error["field"] == "jsonresume" + pointer.replace("/", ".")
    assert words in str(error["message"])
    # Only a wrapped resume has a second fault: it lacks `basics` at the top.
    assert len(refused.errors) == (2 if pointer == "/resume" else 1), refused.errors


def test_a_resume_over_the_size_limit_is_document_too_large() -> None:
    refused = refusal(
        minimal(work=[{"name": "A", "position": "B", "highlights": ["y" * 499] * 30}] * 3)
    )
    assert refused.code == "document_too_large"
    assert refused.errors == [
        {"field": "jsonresume", "pointer": "", "message": refused.errors[0]["message"]}
    ]
    assert "32768" in str(refused.errors[0]["message"])

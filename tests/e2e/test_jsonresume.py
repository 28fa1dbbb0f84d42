"""JSON Resume from the ecosystem: the sample resume the npm `resume-schema` package
publishes goes in through the API and comes out of every template and engine with its
content; our validator is held to that package's schema and agrees with its validator."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from exportd.documents.jsonresume import to_resume
from exportd.documents.jsonresume_schema import JsonResume
from exportd.errors import RequestInvalid
from tests.support.browser import require_chromium
from tests.support.live import Live, live_exportd
from tests.support.node import JS, require_node_package, run_script
from tests.support.pdfs import pdftotext

pytestmark = pytest.mark.slow

PACKAGE = JS / "node_modules" / "resume-schema"


def sample() -> dict[str, Any]:
    require_node_package("resume-schema")
    return dict(json.loads((PACKAGE / "sample.resume.json").read_text()))


# -- the schema and its validator ---------------------------------------------------------


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    return _resolve(defs[ref.rsplit("/", 1)[-1]], defs) if ref else node


def _shape(node: dict[str, Any], defs: dict[str, Any], path: str = "") -> dict[str, Any]:
    """Each place of a schema: its type, and whether an object takes other properties."""
    node = _resolve(node, defs)
    shapes = {path or "/": node.get("type")}
    if node.get("type") == "object":
        shapes[f"{path}/*"] = node.get("additionalProperties", True)
        for name, prop in node.get("properties", {}).items():
            shapes.update(_shape(prop, defs, f"{path}/{name}"))
    if node.get("type") == "array":
        shapes.update(_shape(node["items"], defs, f"{path}/[]"))
    return shapes


def test_our_schema_is_the_npm_packages_property_for_property() -> None:
    require_node_package("resume-schema")
    theirs = json.loads((PACKAGE / "schema.json").read_text())
    ours = JsonResume.model_json_schema()
    their_shape = _shape(theirs, theirs["definitions"])
    our_shape = _shape(ours, ours["$defs"])
    assert len(their_shape) > 100  # every property of every object, not a few
    assert our_shape == their_shape
    date = theirs["definitions"]["iso8601"]["pattern"]
    our_dates = ours["$defs"]["JsonResumeWork"]["properties"]["startDate"]["pattern"]
    assert our_dates == date


def _variants() -> list[tuple[str, dict[str, Any], bool, bool]]:
    """(what, document, valid for npm's validator, stored by exportd)."""
    base = sample()
    work = base["work"][0]
    return [
        ("the sample", base, True, True),
        ("a day that is not", {**base, "work": [{**work, "endDate": "2014-02-30"}]}, True, False),
        ("a month that is not", {**base, "awards": [{"date": "2014-13"}]}, True, False),
        ("a date in words", {**base, "work": [{**work, "startDate": "Dec 2013"}]}, False, False),
        ("a name that is a number", {**base, "basics": {"name": 7}}, False, False),
        ("work that is an object", {**base, "work": work}, False, False),
        ("keywords that are a string", {**base, "skills": [{"keywords": "C"}]}, False, False),
        ("null for a string", {**base, "basics": {**base["basics"], "label": None}}, False, False),
        ("a wrapped resume", {"resume": base}, False, False),
        ("an unknown top-level property", {**base, "photo": "me.png"}, False, False),
        ("an unknown inner property", {**base, "basics": {**base["basics"], "x-a": 1}}, True, True),
        ("an email that is not", {**base, "basics": {"name": "A", "email": "a"}}, False, False),
        # What the templates cannot do without, which the schema leaves optional.
        ("no name", {**base, "basics": {"label": "Programmer"}}, True, False),
        ("work without a position", {**base, "work": [{"name": "Hooli"}]}, True, False),
    ]


def test_npms_validator_and_ours_agree_but_where_exportd_needs_more(tmp_path: Path) -> None:
    require_node_package("resume-schema")
    variants = _variants()
    files = []
    for index, (_, document, _, _) in enumerate(variants):
        files.append(tmp_path / f"{index}.json")
        files[-1].write_text(json.dumps(document))
    code, verdicts = run_script("jsonresume_validate.mjs", *map(str, files), timeout_s=60)
    assert code == 0, verdicts
    for file, (what, document, npm_valid, stored) in zip(files, variants, strict=True):
        assert verdicts[str(file)]["valid"] is npm_valid, (what, verdicts[str(file)])
        assert _stored(document) is stored, what


def _stored(document: dict[str, Any]) -> bool:
    """Whether exportd takes the document (False: refused as ``jsonresume_invalid``)."""
    try:
        to_resume(document)
    except RequestInvalid as refused:
        return {"jsonresume_invalid": False}[refused.code]
    return True


# -- through the API, into PDFs --------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_exportd(tmp_path_factory.mktemp("jsonresume")) as server:
        yield server


def _export(live: Live, document_id: str, template: str, tmp_path: Path) -> str:
    headers = {"Authorization": f"Bearer {live.token('rh')}"}
    created = httpx2.post(
        f"{live.url}/v1/exports",
        json={
            "source": "resume",
            "format": "pdf",
            "template": template,
            "params": {"document_id": document_id},
        },
        headers=headers,
        timeout=30,
    )
    assert created.status_code == 202, created.text
    url = f"{live.url}/v1/exports/{created.json()['id']}"
    deadline = time.monotonic() + 120
    while (export := httpx2.get(url, headers=headers, timeout=30).json())["status"] in {
        "queued",
        "running",
    }:
        assert time.monotonic() < deadline, export
        time.sleep(0.3)
    assert export["status"] == "completed", export
    pdf = httpx2.get(f"{url}/download", headers=headers, timeout=30)
    assert pdf.content.startswith(b"%PDF")
    path = tmp_path / f"{template}.pdf"
    path.write_bytes(pdf.content)
    return " ".join(pdftotext(path).split())  # words as read, whatever the columns


def _post_sample(live: Live) -> str:
    created = httpx2.post(
        f"{live.url}/v1/documents",
        json={"title": "Sample", "jsonresume": sample()},
        headers={"Authorization": f"Bearer {live.token('rh')}"},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


# What pdftotext must read in every template: a field of each kind the sample has.
SHOWN = [
    "Richard Hendriks",  # basics.name
    "Programmer",  # basics.label
    "richard.hendriks@mail.com",
    "(912) 555-4321",
    "San Francisco, California",  # basics.location
    "Go Sooners and Cardinal!",  # basics.summary
    "CEO/President",  # work.position
    "Pied Piper",  # work.name
    "2013-12",  # work.startDate, to the month
    "Palo Alto, CA",  # work.location
    "Successfully won Techcrunch Disrupt",  # work.highlights
    "Teacher (volunteer)",  # volunteer
    "CoderDojo",
    "University of Oklahoma",  # education
    "Bachelor in Information Technology",  # studyType + area
    "DB1101 - Basic SQL",  # courses
    "Web Development (Master): HTML, CSS, Javascript",  # skills with level and keywords
    "Compression (Master)",
    "English (Native speaker)",  # languages
    "Miss Direction",  # projects
    "Digital Compression Pioneer Award",  # awards
    "Video compression for 3d media",  # publications
    "Wildlife: Ferrets, Unicorns",  # interests
    "Erlich Bachman",  # references
    "Twitter: neutralthoughts",  # a profile with no URL
]


@pytest.mark.parametrize("template", ["classic", "modern"])
def test_the_npm_sample_resume_exports_through_each_template(
    live: Live, template: str, tmp_path: Path
) -> None:
    text = _export(live, _post_sample(live), template, tmp_path)
    missing = [words for words in SHOWN if words not in text]
    assert not missing, text


def test_the_npm_sample_resume_prints_with_chromium(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    require_chromium()
    env = {"EXPORTD_PDF_ENGINE": "chromium", "EXPORTD_MEMORY_LIMIT_MB": "1500"}
    with live_exportd(tmp_path_factory.mktemp("jsonresume-chromium"), env=env) as live:
        text = _export(live, _post_sample(live), "modern", tmp_path)
    missing = [words for words in SHOWN if words not in text]
    assert not missing, text

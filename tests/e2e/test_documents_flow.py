"""Resume exports end to end: a real worker renders the owner's document with a
template (Typst or HTML), free plans get the watermark, bad documents fail by name."""

from __future__ import annotations

import io
import re
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pdfminer.pdfdocument import PDFDocument
from pdfminer.pdfparser import PDFParser
from pdfminer.pdftypes import resolve1
from pypdf import PdfReader
from sqlalchemy import select

from exportd.auth.principal import Principal
from exportd.db.tables import exports
from exportd.documents.service import DocumentService
from exportd.documents.source import RESUME
from exportd.exports.models import ExportRequest, ExportStatus
from exportd.exports.service import ExportService
from exportd.sources import SourceRegistry
from tests.support.browser import require_chromium
from tests.support.pdfs import fonts_of, pdftotext
from tests.support.shared_worker import same_backend_database, tenant
from tests.support.workers import Harness

pytestmark = pytest.mark.slow

RESUME_DATA = {
    "profile": {
        "name": "Zoë Ångström",
        "headline": "Data engineer",
        "email": "zoe@example.com",
        "summary": "Builds pipelines <script>alert(1)</script> {{ 7*7 }} #panic()",
    },
    "work": [
        {
            "organisation": "Acme",
            "role": "Engineer",
            "start": "2020-01",
            "highlights": ["Cut export time by 80%", '=HYPERLINK("http://x")'],
        }
    ],
    "skills": ["Python", "SQL"],
}


def make_world(
    database_url: str, tmp_path: Path, **worker_env: str
) -> Iterator[tuple[Harness, ExportService, DocumentService]]:
    """A worker and the services on its database.  Each world is the module's, shared by
    its tests, which keep to themselves as owners of their own (``carol``, ``dave``); a
    world whose worker is set up differently has a database of its own, so no worker
    runs another's jobs."""
    harness = Harness(database_url, tmp_path)
    harness.start_worker(storage_url=f"file://{tmp_path / 'exports'}", **worker_env)
    exports_service = ExportService(
        db=harness.db,
        store=harness.store,
        sources=SourceRegistry([RESUME]),
        settings=harness.settings,
    )
    documents = DocumentService(db=harness.db, store=harness.store, max_sections=20)
    yield harness, exports_service, documents
    harness.close()


@pytest.fixture(scope="module")
def world(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Harness, ExportService, DocumentService]]:
    yield from make_world(module_database_url, tmp_path_factory.mktemp("documents"))


@pytest.fixture(scope="module")
def chromium_world(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Harness, ExportService, DocumentService]]:
    require_chromium()
    folder = tmp_path_factory.mktemp("chromium")
    with same_backend_database(module_database_url, folder) as url:
        yield from make_world(url, folder, pdf_engine="chromium")


@pytest.fixture
def carol() -> Principal:
    """An owner of this test alone, on the free plan."""
    return Principal(tenant("carol"), "free")


@pytest.fixture
def dave() -> Principal:
    """An owner of this test alone, on the pro plan."""
    return Principal(tenant("dave"), "pro")


def run(world: Any, principal: Principal, content: dict[str, Any], **request: Any):
    harness, service, documents = world
    documents.create(principal, title="CV", content=content)
    view, _ = service.create(
        principal, ExportRequest(source="resume", params=request.pop("params", {}), **request)
    )
    with harness.db.read() as conn:
        job_id = conn.execute(select(exports.c.job_id).where(exports.c.id == view.id)).scalar()
    harness.wait_for(int(job_id), lambda job: job.state.is_final, timeout=60)
    done = service.get(principal, view.id)
    data = None
    if done.result:
        data = (harness.tmp_path / "exports" / done.result["key"]).read_bytes()
    return done, data


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


@pytest.mark.parametrize("template", ["classic", "modern"])
def test_a_free_resume_is_a_watermarked_pdf(world: Any, carol: Principal, template: str) -> None:
    done, pdf = run(world, carol, RESUME_DATA, format="pdf", template=template)
    assert done.status is ExportStatus.COMPLETED, done.error
    assert pdf is not None
    assert pdf.startswith(b"%PDF")
    assert done.result["content_type"] == "application/pdf"
    assert (done.result["template"], done.result["template_version"]) == (template, "1.1.0")
    text = text_of(pdf)
    assert "Zoë Ångström" in text
    assert "Cut export time by 80%" in text
    assert "{{ 7*7 }}" in text  # data is text, never template code
    assert "PREVIEW" in text
    fonts = fonts_of(pdf)
    assert fonts
    assert all(fonts.values()), fonts  # identical on every machine: nothing left to chance
    assert done.result["filename"].startswith("zoe-angstrom-resume-")  # ö, Å transliterated


def test_a_pro_resume_has_no_watermark_and_takes_letter_paper(world: Any, dave: Principal) -> None:
    done, pdf = run(world, dave, RESUME_DATA, format="pdf", params={"page_size": "letter"})
    assert done.status is ExportStatus.COMPLETED, done.error
    assert pdf is not None
    reader = PdfReader(io.BytesIO(pdf))
    assert "PREVIEW" not in text_of(pdf)
    width, height = reader.pages[0].mediabox.width, reader.pages[0].mediabox.height
    assert (round(float(width)), round(float(height))) == (612, 792)  # US Letter in points


def test_html_output_escapes_the_data(world: Any, dave: Principal) -> None:
    done, html = run(world, dave, RESUME_DATA, format="html", template="modern")
    assert done.status is ExportStatus.COMPLETED, done.error
    assert html is not None
    page = html.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>" not in page


def test_the_chromium_engine_prints_the_html_template(
    chromium_world: Any, carol: Principal
) -> None:
    done, pdf = run(chromium_world, carol, RESUME_DATA, format="pdf", template="modern")
    assert done.status is ExportStatus.COMPLETED, done.error
    assert pdf is not None
    text = text_of(pdf)
    assert "Zoë Ångström" in text
    assert "{{ 7*7 }}" in text
    assert "PREVIEW" in "".join(text.split())  # the rotated glyphs are placed one by one
    fonts = fonts_of(pdf)
    assert fonts
    assert all(fonts.values()), fonts
    assert b"Chrom" in pdf  # the producer: it was Chromium that printed it, not WeasyPrint


@pytest.fixture(scope="module")
def profile_world(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Harness, ExportService, DocumentService]]:
    """A worker that knows the demo sources, ``trader_profile`` among them."""
    from exportd.demo.sources import demo_sources
    from exportd.demo.tables import create_demo_tables

    folder = tmp_path_factory.mktemp("profile")
    with same_backend_database(module_database_url, folder) as url:
        harness = Harness(url, folder)
        with harness.db.write() as conn:
            create_demo_tables(conn)
        harness.start_worker(
            storage_url=f"file://{folder / 'exports'}",
            source_modules='["exportd.demo.sources:demo_sources"]',
        )
        service = ExportService(
            db=harness.db,
            store=harness.store,
            sources=SourceRegistry(demo_sources()),
            settings=harness.settings,
        )
        yield harness, service, DocumentService(db=harness.db, store=harness.store, max_sections=20)
        harness.close()


@pytest.fixture
def trader(profile_world: Any) -> Principal:
    """An owner of this test alone (``dave``, on the pro plan) with 300 trades, goals and
    prop-firm evaluations."""
    from exportd.demo.tables import seed_goals_and_evaluations, seed_trades

    owner = tenant("dave")
    with profile_world[0].db.write() as conn:
        seed_trades(conn, owner, 300)
        seed_goals_and_evaluations(conn, owner)
    return Principal(owner, "pro")


def run_profile(world: Any, principal: Principal, **request: Any):
    harness, service, _ = world
    params = request.pop("params", {})
    view, _ = service.create(
        principal, ExportRequest(source="trader_profile", params=params, **request)
    )
    with harness.db.read() as conn:
        job_id = conn.execute(select(exports.c.job_id).where(exports.c.id == view.id)).scalar()
    harness.wait_for(int(job_id), lambda job: job.state.is_final, timeout=60)
    done = service.get(principal, view.id)
    data = (harness.tmp_path / "exports" / done.result["key"]).read_bytes() if done.result else None
    return done, data


@pytest.mark.parametrize(("template", "fmt"), [("classic", "pdf"), ("modern", "html")])
def test_a_plugin_document_source_renders_with_the_builtin_templates(
    profile_world: Any, trader: Principal, tmp_path: Path, template: str, fmt: str
) -> None:
    done, data = run_profile(
        profile_world, trader, format=fmt, template=template, params={"page_size": "letter"}
    )
    assert done.status is ExportStatus.COMPLETED, done.error
    assert data is not None
    text = text_of(data) if fmt == "pdf" else data.decode()
    assert "Dave" in text  # the profile's name: the owner's id, "dave-gw0-12" as "Dave-Gw0-12"
    assert "300 trades" in text  # the profile summed the owner's trades
    assert "goals" in text.lower()  # a section (Typst sets titles in capitals)
    assert "evaluation" in text  # prop-firm evaluations as work
    assert done.result["filename"].startswith(f"{trader.user_id}-trader_profile-")
    if fmt == "pdf":
        width = PdfReader(io.BytesIO(data)).pages[0].mediabox.width
        assert round(float(width)) == 612  # the source's page_size parameter was honoured
        path = tmp_path / "profile.pdf"
        path.write_bytes(data)
        text = pdftotext(path)
    # Evaluations that started and ended in one month print it once, not as a range;
    # goals read in their own units (a win rate in %), the latest first.
    assert not re.search(r"(\d{4}-\d{2}) \N{EN DASH} \1", text), text
    assert "2025-03" in text  # the seeded one-month evaluation, printed once
    assert re.search(r"Win rate \(2025-12\): \d+% of 55%", text)


def test_a_plugin_document_source_is_checked_against_the_template(profile_world: Any) -> None:
    # Someone with no prop-firm evaluations has no "work": the modern template needs it.
    erin = Principal(tenant("erin"), "pro")
    done, _ = run_profile(profile_world, erin, format="pdf", template="modern")
    assert done.status is ExportStatus.FAILED
    assert done.error["code"] == "document_sections_missing"
    assert "missing sections: work" in done.error["message"]


def export_of(world: Any, principal: Principal, document_id: str, **request: Any):
    harness, service, _documents = world
    view, _ = service.create(
        principal,
        ExportRequest(source="resume", params={"document_id": document_id}, **request),
    )
    with harness.db.read() as conn:
        job_id = conn.execute(select(exports.c.job_id).where(exports.c.id == view.id)).scalar()
    harness.wait_for(int(job_id), lambda job: job.state.is_final, timeout=60)
    done = service.get(principal, view.id)
    assert done.status is ExportStatus.COMPLETED, done.error
    return done, (harness.tmp_path / "exports" / done.result["key"]).read_bytes()


def after_the_second_of(moment: datetime | None) -> None:
    """Wait until the clock reads a later second than ``moment`` (UTC when naive)."""
    assert moment is not None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    turned = moment.replace(microsecond=0).timestamp() + 1
    while time.time() < turned:
        time.sleep(turned - time.time())


@pytest.mark.parametrize("template", ["classic", "modern"])
def test_the_same_document_exports_the_same_bytes_dated_by_its_last_change(
    world: Any, dave: Principal, template: str
) -> None:
    _harness, _service, documents = world
    document = documents.create(dave, title="CV", content=RESUME_DATA)
    first, pdf = export_of(world, dave, document.id, format="pdf", template=template)
    # The clock moves on (to a second the first rendering never saw): no second of it
    # may reach the file.
    after_the_second_of(first.finished_at)
    second, _ = export_of(world, dave, document.id, format="pdf", template=template)
    assert first.result["sha256"] == second.result["sha256"]
    info = subprocess.run(
        ["pdfinfo", "-isodates", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    stamp = document.updated_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    assert f"CreationDate:    {stamp}" in info, (stamp, info)
    # An edited document is another file (a new date, if nothing else).
    documents.update(dave, document.id, title=None, content=RESUME_DATA)
    edited, _ = export_of(world, dave, document.id, format="pdf", template=template)
    assert edited.result["sha256"] != first.result["sha256"]


def test_an_archival_pdf_a_2b_export(world: Any, dave: Principal) -> None:
    _harness, _service, documents = world
    document = documents.create(dave, title="CV", content=RESUME_DATA)
    _done, pdf = export_of(
        world,
        dave,
        document.id,
        format="pdf",
        template="modern",
        options={"pdf_standard": "pdf/a-2b"},
    )
    catalog = PDFDocument(PDFParser(io.BytesIO(pdf))).catalog
    xmp = resolve1(catalog["Metadata"]).get_data().decode()
    assert "pdfaid:part" in xmp, xmp
    assert "OutputIntents" in catalog

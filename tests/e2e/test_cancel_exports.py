"""Cancelling a running export, of every format, with a real worker: it stops within one
batch of the request, ends ``cancelled`` and leaves no file.  On SQLite and PostgreSQL.

The source waits at a gate (tests/support/gated_source.py), so the request comes at a
known point: while the export waits for its next batch, or while a resume is loaded.
The worker's lease is the default's 30 s: a cancel must not wait for a heartbeat.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from exportd.auth.principal import Principal
from exportd.db.tables import exports
from exportd.exports.models import ExportRequest, ExportStatus, ExportView
from exportd.exports.service import ExportService
from exportd.sources import SourceRegistry
from tests.support.gated_source import gated_sources
from tests.support.shared_worker import files_under, tenant
from tests.support.workers import Harness

pytestmark = pytest.mark.slow

BEFORE, AFTER = 100, 400  # rows before the gate, and after it


@dataclass(frozen=True)
class Case:
    format: str
    source: str = "gated_rows"
    options: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    template: str | None = None


CASES = {
    "csv": Case("csv"),
    "csv-de_DE": Case("csv", options={"locale": "de_DE"}),
    "jsonl": Case("jsonl"),
    "json": Case("json"),
    "parquet": Case("parquet"),
    "xlsx-fast": Case("xlsx"),  # counted: rust_xlsxwriter, sheets named up front
    "xlsx-xlsxwriter": Case("xlsx", params={"countable": False}),  # sheets as they come
    "pdf": Case("pdf", source="gated_resume", template="classic"),
    "html": Case("html", source="gated_resume", template="modern"),
}


@pytest.fixture(scope="module")
def harness(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    """The module's worker; each test exports as an owner of its own."""
    folder = tmp_path_factory.mktemp("cancel-exports")
    h = Harness(module_database_url, folder)
    h.start_worker(
        concurrency=1,
        source_modules='["tests.support.gated_source:gated_sources"]',
        storage_url=f"file://{folder / 'exports'}",
        export_batch_rows="100",
        job_lease_s="30",
    )
    yield h
    h.close()


@pytest.fixture
def bob() -> Principal:
    return Principal(tenant("bob"), "pro")


def _service(harness: Harness) -> ExportService:
    return ExportService(
        db=harness.db,
        store=harness.store,
        sources=SourceRegistry(gated_sources()),
        settings=harness.settings,
    )


def _create(
    service: ExportService, bob: Principal, case: Case, gate: Path, **params: Any
) -> ExportView:
    request = ExportRequest(
        source=case.source,
        format=case.format,
        params={"gate": str(gate), "before": BEFORE, "after": AFTER, **case.params, **params},
        options=case.options,
        template=case.template,
    )
    view, _ = service.create(bob, request)
    return view


def _wait_for(done: Any, what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := done():
            return found
        time.sleep(0.02)
    raise AssertionError(f"never saw {what}")


def _final(service: ExportService, bob: Principal, export_id: str) -> ExportView:
    def final() -> ExportView | None:
        view = service.get(bob, export_id)
        return None if view.status.is_active else view

    return _wait_for(final, f"export {export_id} final")  # type: ignore[no-any-return]


def _files(harness: Harness, owner: Principal) -> list[Path]:
    """The owner's stored files (keys start with the owner's id)."""
    return files_under(harness.tmp_path / "exports" / owner.user_id)


def _cancel_reached_the_worker(harness: Harness, view: ExportView) -> None:
    """Wait until the worker has passed the cancel request on to the job's child."""
    job_id = _job_id(harness, view)
    _wait_for(
        lambda: any(
            e["event"] == "job.cancel_forwarded" and e["job_id"] == job_id
            for e in harness.workers[0].events()
        ),
        f"job {job_id}'s cancel forwarded",
    )


def _job_id(harness: Harness, view: ExportView) -> int:
    with harness.db.read() as conn:
        row = conn.execute(select(exports.c.job_id).where(exports.c.id == view.id)).one()
    return int(row.job_id)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_running_export_is_cancelled_and_leaves_no_file(
    harness: Harness, bob: Principal, tmp_path: Path, case: Case
) -> None:
    service = _service(harness)
    gate = tmp_path / "gate"
    gate.mkdir()
    view = _create(service, bob, case, gate)
    _wait_for(lambda: (gate / "held").exists(), "the source at its gate")
    asked = service.cancel(bob, view.id)
    assert asked is not None
    assert asked.status is ExportStatus.RUNNING  # the API's 202: it stops at a checkpoint
    _cancel_reached_the_worker(harness, view)  # while the source waits
    (gate / "open").touch()
    done = _final(service, bob, view.id)
    assert done.status is ExportStatus.CANCELLED, (done.status, done.error)
    assert done.result is None
    assert _files(harness, bob) == []  # not the file, not a part of it
    # The request came while the next batch was awaited: that batch was never written.
    assert (done.progress.get("rows_done") or 0) <= BEFORE


@pytest.mark.parametrize(
    ("rows", "countable"),
    [(150_000, True), (20_000, False)],
    ids=["xlsx-fast", "xlsx-xlsxwriter"],
)
def test_an_xlsx_cancelled_while_it_is_zipped_leaves_no_file(
    harness: Harness, bob: Principal, tmp_path: Path, rows: int, countable: bool
) -> None:
    """XLSX does much of its work once the rows are written: zipping the sheets.  A
    cancel then (the report: a 202, and the export completed) stops it too."""
    service = _service(harness)
    gate = tmp_path / "gate"
    gate.mkdir()
    view = _create(
        service,
        bob,
        CASES["xlsx-fast"],
        gate,
        before=rows,
        after=1,
        hold=False,
        countable=countable,
    )

    def big_batch_written() -> bool:  # the one row left takes no time: then the zip
        return bool((service.get(bob, view.id).progress.get("rows_done") or 0) >= rows)

    _wait_for(big_batch_written, "the rows written")
    asked = service.cancel(bob, view.id)
    assert asked is not None
    assert asked.status is ExportStatus.RUNNING
    done = _final(service, bob, view.id)
    assert done.status is ExportStatus.CANCELLED, (done.status, done.error)
    assert done.result is None
    assert _files(harness, bob) == []


def test_a_localized_csv_is_cancelled_inside_its_batch(
    harness: Harness, bob: Principal, tmp_path: Path
) -> None:
    """Numbers and dates for a locale are formatted one by one: seconds for a big batch.
    The request comes while the first batch is formatted; the export stops inside it."""
    service = _service(harness)
    gate = tmp_path / "gate"
    gate.mkdir()
    rows = 200_000  # about 16 us a row of five columns since issue 24: still seconds
    view = _create(service, bob, CASES["csv-de_DE"], gate, before=rows)
    # The source is asked for its next batch while the first is formatted: it waits.
    _wait_for(lambda: (gate / "held").exists(), "the source at its gate")
    asked = service.cancel(bob, view.id)
    assert asked is not None
    assert asked.status is ExportStatus.RUNNING
    _cancel_reached_the_worker(harness, view)
    (gate / "open").touch()
    done = _final(service, bob, view.id)
    assert done.status is ExportStatus.CANCELLED, (done.status, done.error)
    assert _files(harness, bob) == []
    assert (done.progress.get("rows_done") or 0) < rows  # the batch was never finished

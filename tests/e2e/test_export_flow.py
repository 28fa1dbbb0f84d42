"""Exports end to end: the service queues, a real worker writes the file, the export
row records the artifact.  On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import dataclasses
import gzip
import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import openpyxl
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select, update

from exportd.auth.principal import Principal
from exportd.clock import ManualClock
from exportd.db.tables import export_events, exports
from exportd.demo.sources import demo_sources
from exportd.demo.tables import create_demo_tables, seed_goals_and_evaluations, seed_trades
from exportd.exports.models import ColumnChoice, ExportRequest, ExportStatus
from exportd.exports.plans import plan_for, save_plan
from exportd.exports.service import ExportService
from exportd.ops.cleanup import Cleanup
from exportd.queue.control import QueueControl
from exportd.sources import SourceRegistry
from exportd.storage.local import LocalStorage
from tests.support.shared_worker import files_under, same_backend_database, tenant
from tests.support.workers import Harness

pytestmark = pytest.mark.slow


def _shared_harness(database_url: str, tmp_path: Path, **worker_env: str) -> Harness:
    h = Harness(database_url, tmp_path)
    with h.db.write() as conn:
        create_demo_tables(conn)
    h.start_worker(
        source_modules='["exportd.demo.sources:demo_sources"]',
        storage_url=f"file://{tmp_path / 'exports'}",
        export_batch_rows="500",
        **worker_env,
    )
    return h


@pytest.fixture(scope="module")
def harness(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    """The module's worker; each test keeps to its own owners (``bob``, ``alice``)."""
    h = _shared_harness(module_database_url, tmp_path_factory.mktemp("export-flow"))
    yield h
    h.close()


@pytest.fixture
def bob(harness: Harness) -> Principal:
    """An owner of this test alone, on the pro plan, with 3,000 trades, goals and
    evaluations."""
    owner = tenant("bob")
    with harness.db.write() as conn:
        seed_trades(conn, owner, 3000)
        seed_goals_and_evaluations(conn, owner)
    return Principal(owner, "pro")


@pytest.fixture
def alice(harness: Harness) -> Principal:
    """An owner of this test alone, on the free plan, with 50 trades."""
    owner = tenant("alice")
    with harness.db.write() as conn:
        seed_trades(conn, owner, 50)
    return Principal(owner, "free")


@pytest.fixture(scope="module")
def row_path_harness(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    """Rows through SQLAlchemy instead of ADBC (EXPORTD_ARROW_FETCH=false): a worker of
    its own, on a database of its own (on the same backend), so no other worker runs its
    jobs."""
    folder = tmp_path_factory.mktemp("row-path")
    with same_backend_database(module_database_url, folder) as url:
        h = _shared_harness(url, folder, arrow_fetch="false")
        yield h
        h.close()


def _service(harness: Harness) -> ExportService:
    return ExportService(
        db=harness.db,
        store=harness.store,
        sources=SourceRegistry(demo_sources()),
        settings=harness.settings,
    )


@pytest.fixture
def service(harness: Harness) -> ExportService:
    return _service(harness)


def finished(service: ExportService, principal: Principal, export_id: str, harness: Harness):
    view = service.get(principal, export_id)
    harness.wait_for(_job_id(service, export_id), lambda job: job.state.is_final, timeout=60)
    return service.get(principal, export_id), view


def _job_id(service: ExportService, export_id: str) -> int:
    with service.db.read() as conn:
        return int(conn.execute(exports.select().where(exports.c.id == export_id)).one().job_id)


def stored(harness: Harness, key: str) -> bytes:
    return (harness.tmp_path / "exports" / key).read_bytes()


COLUMNS = (ColumnChoice("opened_at", "Opened"), ColumnChoice("symbol"), ColumnChoice("pnl", "P&L"))


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json", "xlsx", "parquet"])
def test_every_format_end_to_end(
    harness: Harness, bob: Principal, service: ExportService, fmt: str
) -> None:
    request = ExportRequest(
        source="trades", format=fmt, params={"direction": "long"}, columns=COLUMNS
    )
    view, _ = service.create(bob, request)
    done, _ = finished(service, bob, view.id, harness)
    assert done.status is ExportStatus.COMPLETED, done.error
    result = done.result
    assert result is not None
    data = stored(harness, result["key"])
    assert len(data) == result["size"]
    assert hashlib.sha256(data).hexdigest() == result["sha256"]
    assert done.expires_at is not None
    rows = read_back(fmt, data)
    if fmt == "xlsx":  # the sheet is named after the source
        assert openpyxl.load_workbook(io.BytesIO(data), read_only=True).sheetnames == ["Trades"]
    # Renamed columns carry their new names; "symbol" was not renamed: files people read
    # show its declared label, files programs read its name.
    assert rows[0] == ["Opened", "Symbol" if fmt in ("csv", "xlsx") else "symbol", "P&L"]
    assert len(rows) - 1 == result["row_count"]
    assert 1000 < result["row_count"] < 2000  # about half of bob's 3,000 are long


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_row_path_writes_the_same_file(row_path_harness: Harness, fmt: str) -> None:
    """The worker prefetches batches in a thread: the SQLAlchemy row path (a connection
    made in the job's thread) must work there too, and give the Arrow path's rows."""
    from exportd.demo.sources import TradeParams, TradesSource
    from exportd.formats import OutputColumn, open_writer

    harness = row_path_harness
    bob = Principal(tenant("bob"), "pro")
    with harness.db.write() as conn:
        seed_trades(conn, bob.user_id, 3000)
    service = _service(harness)
    request = ExportRequest(
        source="trades", format=fmt, params={"direction": "long"}, columns=COLUMNS
    )
    view, _ = service.create(bob, request)
    done, _ = finished(service, bob, view.id, harness)
    assert done.status is ExportStatus.COMPLETED, done.error
    assert done.result is not None
    rows = read_back(fmt, stored(harness, done.result["key"]))
    # The same export in this process, through the Arrow path.
    source = TradesSource()
    names = [c.name for c in COLUMNS]
    declared = {c.name: c.label for c in source.columns}
    columns = [OutputColumn(c.name, c.label or declared[c.name]) for c in COLUMNS]
    sink = io.BytesIO()
    with harness.db.read() as conn:
        params = TradeParams(direction="long")
        writer = open_writer(fmt, sink, columns, source.arrow_schema(names))
        for batch in source.batches(conn, bob.user_id, params, names, batch_size=700):
            writer.write(batch)
        writer.close()
    assert rows == read_back(fmt, sink.getvalue())
    assert len(rows) - 1 == done.result["row_count"] > 1000


@pytest.mark.parametrize(
    ("fmt", "compression"), [("csv", "gzip"), ("jsonl", "zip"), ("json", "gzip"), ("csv", "zip")]
)
def test_a_compressed_export_is_the_plain_file_compressed(
    harness: Harness, bob: Principal, service: ExportService, fmt: str, compression: str
) -> None:
    """The worker compresses while it writes: the stored file's name, type, size and
    hash are the compressed file's, and inside is the file the plain export makes."""
    plain_view, _ = service.create(
        bob, ExportRequest(source="trades", format=fmt, params={}, columns=COLUMNS)
    )
    request = ExportRequest(
        source="trades",
        format=fmt,
        params={},
        columns=COLUMNS,
        options={"compression": compression},
    )
    view, _ = service.create(bob, request)
    done, _ = finished(service, bob, view.id, harness)
    plain, _ = finished(service, bob, plain_view.id, harness)
    assert done.status is ExportStatus.COMPLETED, done.error
    assert plain.result is not None
    result = done.result
    assert result is not None
    suffix, content_type = {
        "gzip": (".gz", "application/gzip"),
        "zip": (".zip", "application/zip"),
    }[compression]
    inner = result["filename"].removesuffix(suffix)
    assert result["filename"] == f"trades-{done.created_at:%Y%m%d}-{view.id[:8]}.{fmt}{suffix}"
    assert result["key"].endswith("/" + result["filename"])
    assert result["content_type"] == content_type
    assert result["compression"] == compression
    assert result["row_count"] == plain.result["row_count"] == 3000
    data = stored(harness, result["key"])
    assert len(data) == result["size"] < plain.result["size"]
    assert hashlib.sha256(data).hexdigest() == result["sha256"]
    if compression == "gzip":
        unpacked = gzip.decompress(data)
    else:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            assert archive.namelist() == [inner]
            unpacked = archive.read(inner)
    assert unpacked == stored(harness, plain.result["key"])
    assert len(read_back(fmt, unpacked)) == 3001


def read_back(fmt: str, data: bytes) -> list[list[object]]:
    if fmt == "csv":
        return [list(r) for r in csv.reader(io.StringIO(data.decode()))]
    if fmt == "jsonl":
        items = [json.loads(line) for line in data.decode().split("\n")[:-1]]
        return [list(items[0])] + [list(i.values()) for i in items]
    if fmt == "json":
        items = json.loads(data)
        return [list(items[0])] + [list(i.values()) for i in items]
    if fmt == "xlsx":
        sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
        return [list(r) for r in sheet.iter_rows(values_only=True)]
    table = pq.read_table(io.BytesIO(data))
    return [table.column_names] + [list(r.values()) for r in table.to_pylist()]


def test_only_the_owners_rows_are_exported(
    harness: Harness, service: ExportService, bob: Principal, alice: Principal
) -> None:
    view, _ = service.create(alice, ExportRequest(source="trades", format="csv", params={}))
    done, _ = finished(service, alice, view.id, harness)
    assert done.result is not None
    assert done.result["row_count"] == 50
    assert done.progress == {"percent": 100.0, "rows_done": 50, "rows_total": 50}


def test_the_row_limit_fails_terminally_and_stores_nothing(
    harness: Harness, bob: Principal, service: ExportService
) -> None:
    tiny = custom_plan(harness, bob, "tiny", max_rows=10)
    view, _ = service.create(tiny, ExportRequest(source="trades", format="csv", params={}))
    done, _ = finished(service, tiny, view.id, harness)
    assert done.status is ExportStatus.FAILED
    assert done.error is not None
    assert done.error["code"] == "row_limit_exceeded"
    assert "10 rows" in done.error["message"]
    assert not list((harness.tmp_path / "exports" / bob.user_id).rglob("*.csv"))


@pytest.mark.parametrize("module_database_url", ["sqlite"], indirect=True)  # formats, not databases
@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json", "xlsx", "parquet"])
def test_keep_partial_keeps_a_valid_file_of_the_rows_written(
    harness: Harness, bob: Principal, service: ExportService, fmt: str
) -> None:
    """Past the plan's rows (1,234: mid-batch, batches are 500) the export fails, and with
    keep_partial its file of the rows written is closed, stored, downloadable, counted
    against the quota and removed when it expires."""
    tiny = custom_plan(harness, bob, "tiny", max_rows=1234)
    request = ExportRequest(
        source="trades", format=fmt, params={}, columns=COLUMNS, options={"keep_partial": True}
    )
    view, _ = service.create(tiny, request)
    done, _ = finished(service, tiny, view.id, harness)
    assert done.status is ExportStatus.FAILED
    assert done.error is not None
    assert done.error["code"] == "row_limit_exceeded"
    assert "after 1,234 rows; the file of those rows was kept" in done.error["message"]
    result = done.result
    assert result is not None
    assert result["partial"] is True
    assert result["row_count"] == 1234
    data = stored(harness, result["key"])
    assert len(data) == result["size"]
    assert hashlib.sha256(data).hexdigest() == result["sha256"]
    rows = read_back(fmt, data)
    if fmt == "xlsx":  # the sheet is named after the source
        assert openpyxl.load_workbook(io.BytesIO(data), read_only=True).sheetnames == ["Trades"]
    # Renamed columns carry their new names; "symbol" was not renamed: files people read
    # show its declared label, files programs read its name.
    assert rows[0] == ["Opened", "Symbol" if fmt in ("csv", "xlsx") else "symbol", "P&L"]
    assert len(rows) - 1 == 1234
    assert done.expires_at is not None
    assert service.usage(tiny)["usage"]["stored_bytes"] == result["size"]

    storage = LocalStorage(harness.tmp_path / "exports")
    sweep = Cleanup(db=harness.db, storage=storage, batch_size=100, orphan_grace_s=0)
    # A kept file is not an orphan (the module's other owners may leave some: not ours).
    orphans = sweep.run(dry_run=False).orphans
    assert [key for key in orphans if key.startswith(f"{tiny.user_id}/")] == []
    later = ManualClock(done.expires_at + timedelta(seconds=1))
    report = Cleanup(
        db=harness.db, storage=storage, batch_size=100, orphan_grace_s=0, clock=later
    ).run(dry_run=False)
    assert view.id in report.expired  # with the module's earlier exports, now expired too
    assert storage.size(result["key"]) is None
    gone = service.get(tiny, view.id)
    assert gone.status is ExportStatus.FAILED
    assert gone.result is None
    assert (
        Cleanup(db=harness.db, storage=storage, batch_size=100, orphan_grace_s=0, clock=later)
        .run(dry_run=False)
        .expired
        == []
    )  # visited once


def test_without_keep_partial_nothing_is_kept_and_a_retry_clears_the_partial(
    harness: Harness, bob: Principal, service: ExportService
) -> None:
    tiny = custom_plan(harness, bob, "tiny", max_rows=1234)
    keep = {"keep_partial": True}
    kept, _ = service.create(
        tiny, ExportRequest(source="trades", format="csv", params={}, options=keep)
    )
    plain, _ = service.create(tiny, ExportRequest(source="trades", format="csv", params={}))
    for export_id in (kept.id, plain.id):
        finished(service, tiny, export_id, harness)
    assert service.get(tiny, plain.id).result is None  # refused from the count, unwritten
    assert (service.get(tiny, plain.id).error or {})["code"] == "row_limit_exceeded"
    files = list((harness.tmp_path / "exports" / bob.user_id).rglob("*.csv"))
    assert len(files) == 1  # the kept partial only
    retried = service.retry(tiny, kept.id)
    assert retried.result is None
    assert retried.expires_at is None


def custom_plan(harness: Harness, owner: Principal, name: str, **limits: int) -> Principal:
    """A plan of this test's own like pro with some limits changed, and ``owner`` on it."""
    plan = f"{name}-{owner.user_id}"
    with harness.db.write() as conn:
        save_plan(conn, dataclasses.replace(plan_for(conn, "pro"), name=plan, **limits))
    return Principal(owner.user_id, plan)


def test_params_are_checked_again_by_the_worker(
    harness: Harness, bob: Principal, service: ExportService
) -> None:
    # The module's worker is warm: the queue waits while the row is changed under it.
    queues = QueueControl()
    with harness.db.write() as conn:
        queues.pause(conn, "default", by="test")
    try:
        view, _ = service.create(bob, ExportRequest(source="trades", format="csv", params={}))
        with harness.db.write() as conn:
            conn.execute(
                update(exports).where(exports.c.id == view.id).values(params={"direction": "up"})
            )
    finally:
        with harness.db.write() as conn:
            queues.resume(conn, "default")
    done, _ = finished(service, bob, view.id, harness)
    assert done.status is ExportStatus.FAILED
    assert done.error is not None
    assert done.error["code"] == "params_invalid"
    assert "direction" in done.error["message"]
    assert "stack" not in done.error  # frames are for operators, in the event log
    with harness.db.read() as conn:
        failed = conn.execute(
            select(export_events).where(
                export_events.c.export_id == view.id, export_events.c.kind == "failed"
            )
        ).one()
    assert failed.code == "params_invalid"
    assert any("in run_export" in frame for frame in failed.detail["stack"])
    logged = [
        json.loads(line)
        for line in harness.workers[0].log_path.read_text().splitlines()
        if line.startswith("{")
    ]
    [line] = [e for e in logged if e["event"] == "event.failed" and e["export_id"] == view.id]
    assert (line["export_id"], line["owner_id"], line["code"]) == (
        view.id,
        bob.user_id,
        "params_invalid",
    )


def test_a_result_over_the_storage_quota_fails_and_is_not_kept(
    harness: Harness, bob: Principal, service: ExportService
) -> None:
    cramped = custom_plan(harness, bob, "cramped", storage_quota_bytes=5_000)
    view, _ = service.create(cramped, ExportRequest(source="trades", format="csv", params={}))
    done, _ = finished(service, cramped, view.id, harness)
    assert done.status is ExportStatus.FAILED
    assert done.error is not None
    assert done.error["code"] == "storage_quota_exceeded"
    assert "5000 bytes" in done.error["message"]
    assert not files_under(harness.tmp_path / "exports" / bob.user_id)


def test_two_exports_finishing_together_cannot_both_overrun_the_quota(
    harness: Harness, bob: Principal, service: ExportService
) -> None:
    """Each fits alone, not both: the check at settle, under the owner's lock, lets one
    through and fails the other, however the two attempts interleave."""
    roomy = custom_plan(harness, bob, "roomy")
    probe, _ = service.create(roomy, ExportRequest(source="trades", format="csv", params={}))
    measured, _ = finished(service, roomy, probe.id, harness)
    size = measured.result["size"]
    service.cancel(roomy, probe.id)  # deleted: no longer counts against stored bytes

    snug = custom_plan(harness, bob, "snug", storage_quota_bytes=size * 3 // 2, max_active_jobs=5)
    views = [
        service.create(snug, ExportRequest(source="trades", format="csv", params={}))[0]
        for _ in range(2)
    ]
    outcomes = sorted(finished(service, snug, v.id, harness)[0].status for v in views)
    assert outcomes == [ExportStatus.COMPLETED, ExportStatus.FAILED]
    failed = next(service.get(snug, v.id) for v in views if service.get(snug, v.id).error)
    assert failed.error is not None
    assert failed.error["code"] == "storage_quota_exceeded"
    assert failed.error["retryable"] is False
    # The probe's file (deleted, awaiting cleanup) and the winner's: the loser's is gone.
    assert len(files_under(harness.tmp_path / "exports" / bob.user_id)) == 2


def test_write_options_reach_the_file(
    harness: Harness, bob: Principal, service: ExportService
) -> None:
    request = ExportRequest(
        source="trades",
        format="csv",
        params={"limit": 20},
        columns=(ColumnChoice("opened_at", "Opened"), ColumnChoice("symbol")),
        options={"delimiter": ";", "bom": True, "timezone": "America/New_York"},
    )
    view, _ = service.create(bob, request)
    done, _ = finished(service, bob, view.id, harness)
    assert done.status is ExportStatus.COMPLETED, done.error
    assert done.options == {"delimiter": ";", "bom": True, "timezone": "America/New_York"}
    data = stored(harness, done.result["key"])
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["Opened", "Symbol"]  # symbol's declared label
    assert len(rows) == 21
    assert all(row[0].endswith(("-0500", "-0400")) for row in rows[1:])


@pytest.mark.parametrize(
    ("source", "fmt"),
    [
        ("daily_pnl", "xlsx"),
        ("tag_performance", "csv"),
        ("goals", "parquet"),
        ("prop_evaluation", "json"),
    ],
)
def test_every_demo_source_exports(
    harness: Harness, bob: Principal, service: ExportService, source: str, fmt: str
) -> None:
    view, _ = service.create(bob, ExportRequest(source=source, format=fmt, params={}))
    done, _ = finished(service, bob, view.id, harness)
    assert done.status is ExportStatus.COMPLETED, done.error
    registry = SourceRegistry(demo_sources())
    with harness.db.read() as conn:
        expected = registry.get(source).count(
            conn, bob.user_id, registry.get(source).params_model()
        )
    assert done.result["row_count"] == expected > 0

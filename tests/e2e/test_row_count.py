"""Where the worker counts an export's rows: alongside the read, on a connection of its
own, for every format but XLSX (which names its sheets from the count before its first
row).  On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from exportd.auth.principal import Principal
from exportd.demo.sources import demo_sources
from exportd.demo.tables import create_demo_tables, seed_trades
from exportd.exports.models import ExportRequest, ExportStatus
from exportd.exports.service import ExportService
from exportd.sources import SourceRegistry
from tests.e2e.test_export_flow import custom_plan, finished
from tests.support.counting_sources import counting_sources
from tests.support.shared_worker import tenant
from tests.support.workers import Harness

pytestmark = pytest.mark.slow

TRADES = 3000


@pytest.fixture(scope="module")
def harness(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    """The module's worker; each test exports as an owner of its own (``bob``)."""
    folder = tmp_path_factory.mktemp("row-count")
    h = Harness(module_database_url, folder)
    with h.db.write() as conn:
        create_demo_tables(conn)
    h.start_worker(
        source_modules='["exportd.demo.sources:demo_sources",'
        ' "tests.support.counting_sources:counting_sources"]',
        storage_url=f"file://{folder / 'exports'}",
        export_batch_rows="500",
    )
    yield h
    h.close()


@pytest.fixture
def bob(harness: Harness) -> Principal:
    """An owner of this test alone, on the pro plan, with the trades."""
    owner = tenant("bob")
    with harness.db.write() as conn:
        seed_trades(conn, owner, TRADES)
    return Principal(owner, "pro")


@pytest.fixture
def service(harness: Harness) -> ExportService:
    return ExportService(
        db=harness.db,
        store=harness.store,
        sources=SourceRegistry([*demo_sources(), *counting_sources()]),
        settings=harness.settings,
    )


@pytest.mark.parametrize(
    ("source", "fmt"),
    [
        # Counts only once its read has begun: counted before the read, it would fail.
        ("trades_counted_late", "csv"),
        ("trades_counted_late", "parquet"),
        # Cannot count: the total stays unknown, the export is still whole.
        ("trades_uncountable", "jsonl"),
    ],
)
def test_the_rows_are_counted_while_they_are_read(
    harness: Harness, bob: Principal, service: ExportService, source: str, fmt: str
) -> None:
    view, _ = service.create(bob, ExportRequest(source=source, format=fmt, params={}))
    done, _ = finished(service, bob, view.id, harness)
    assert done.status is ExportStatus.COMPLETED, done.error
    assert done.result is not None
    assert done.result["row_count"] == TRADES


def test_a_count_alongside_still_refuses_an_export_over_the_plan(
    harness: Harness, bob: Principal, service: ExportService
) -> None:
    tiny = custom_plan(harness, bob, "tiny", max_rows=2500)  # past it after five batches of 500
    view, _ = service.create(tiny, ExportRequest(source="trades", format="csv", params={}))
    done, _ = finished(service, tiny, view.id, harness)
    assert done.status is ExportStatus.FAILED
    assert done.error is not None
    assert done.error["code"] == "row_limit_exceeded"
    assert done.result is None
    # Nothing under the owner's prefix (the module's other tests store theirs).
    assert not list((harness.tmp_path / "exports" / bob.user_id).rglob("*.csv"))

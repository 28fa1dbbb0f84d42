"""The export service's rules, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, update

from exportd.auth.principal import Principal
from exportd.clock import ManualClock
from exportd.config import Settings
from exportd.db import Database
from exportd.db.tables import exports
from exportd.errors import (
    Conflict,
    ErrorInfo,
    Forbidden,
    LimitReached,
    NotFound,
    RequestInvalid,
    ServiceDisabled,
    TerminalJobError,
)
from exportd.exports.models import ColumnChoice, ExportRequest, ExportStatus
from exportd.exports.read_model import active_count
from exportd.exports.service import ExportService
from exportd.exports.task import EXPORT_TASK
from exportd.queue import JobStore
from exportd.queue.models import Claimed, Outcome
from tests.support.sources import fake_sources

ALICE = Principal("alice", "free", "alice@example.com")
BOB = Principal("bob", "pro")
ADMIN = Principal("root", "pro", is_admin=True)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def service(db: Database, settings: Settings, clock: ManualClock) -> ExportService:
    store = JobStore.from_settings(settings, clock=clock)
    return ExportService(db=db, store=store, sources=fake_sources(), settings=settings, clock=clock)


def trades(fmt: str = "csv", **params: Any) -> ExportRequest:
    return ExportRequest(source="trades", format=fmt, params=params)


def claim_all(service: ExportService) -> list[Claimed]:
    with service.db.write() as conn:
        found = service.store.claim(conn, worker_id="w", queues=["default"], limit=50)
    return [Claimed(job.id, job.attempt) for job in found]


def settle(service: ExportService, claim: Claimed, **outcome: Any) -> None:
    with service.db.write() as conn:
        service.store.settle(conn, Outcome(claim=claim, **outcome))


def test_a_create_answers_from_what_it_wrote_as_a_read_would(service: ExportService) -> None:
    """One read before the INSERTs (the plan, the owner's active exports and usage), none
    after: the export and its job come back from them, and the view is the one a GET
    shows (its ETag lets a client long-poll at once)."""

    def reads_after_inserting(create: Any) -> tuple[Any, list[str]]:
        statements: list[str] = []

        def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            statements.append(statement)

        event.listen(service.db.engine, "before_cursor_execute", record)
        try:
            made = create()
        finally:
            event.remove(service.db.engine, "before_cursor_execute", record)
        first = next(i for i, s in enumerate(statements) if s.startswith("INSERT INTO exports"))
        # Before them, the plan is read with the owner's active exports and usage.
        [plan_read] = [s for s in statements[:first] if "FROM plan_limits" in s]
        assert "owner_usage" in plan_read
        return made, [s for s in statements[first:] if s.startswith("SELECT")]

    (one, _), reads = reads_after_inserting(
        lambda: service.create(ALICE, trades(symbol="AAPL"), correlation_id="req-1")
    )
    assert reads == []
    batch, reads = reads_after_inserting(
        lambda: service.create_batch(BOB, [trades("jsonl"), trades("xlsx", limit=5)])
    )
    assert reads == []
    assert service.get(ALICE, one.id) == one
    assert [service.get(BOB, view.id) for view in batch] == batch


def test_create_queues_the_export_and_its_job_together(service: ExportService) -> None:
    view, created = service.create(
        ALICE, trades(symbol="AAPL", date_from="2026-01-01"), correlation_id="req-1"
    )
    assert created
    assert view.status is ExportStatus.QUEUED
    assert view.params["symbol"] == "AAPL"
    assert view.params["date_from"] == "2026-01-01"
    assert view.correlation_id == "req-1"
    with service.db.read() as conn:
        [job] = service.store.list(conn)
    assert job.task == EXPORT_TASK
    assert job.payload == {"export_id": view.id}
    assert job.correlation_id == "req-1"


@pytest.mark.parametrize(
    ("request_", "code", "field"),
    [
        (trades(limit=0), "params_invalid", "params.limit"),
        (trades(direction="sideways"), "params_invalid", "params.direction"),
        (trades(colour="red"), "params_invalid", "params.colour"),
        (ExportRequest(source="nope", format="csv", params={}), "source_unknown", "source"),
        (trades("pdf"), "format_not_supported", "format"),
        (
            ExportRequest(
                source="trades", format="csv", params={}, columns=(ColumnChoice("secret"),)
            ),
            "column_unknown",
            "columns",
        ),
        (
            ExportRequest(source="trades", format="csv", params={}, column_preset="x"),
            "column_preset_unknown",
            "column_preset",
        ),
        (
            ExportRequest(
                source="trades",
                format="csv",
                params={},
                columns=(ColumnChoice("symbol"),),
                column_preset="summary",
            ),
            "columns_and_preset",
            "columns",
        ),
        (
            ExportRequest(source="resume", format="pdf", params={}, options={"keep_partial": True}),
            "option_not_applicable",
            "options.keep_partial",
        ),
    ],
)
def test_bad_requests_name_the_field(
    service: ExportService, request_: ExportRequest, code: str, field: str
) -> None:
    with pytest.raises(RequestInvalid) as caught:
        service.create(ALICE, request_)
    assert caught.value.code == code
    assert caught.value.errors[0]["field"] == field
    with service.db.read() as conn:
        assert service.store.list(conn) == []  # nothing half-written


def test_columns_are_chosen_ordered_and_renamed(service: ExportService) -> None:
    request = ExportRequest(
        source="trades",
        format="csv",
        params={},
        columns=(ColumnChoice("pnl", "Profit"), ColumnChoice("symbol")),
    )
    view, _ = service.create(ALICE, request)
    assert view.columns == [{"name": "pnl", "label": "Profit"}, {"name": "symbol"}]
    preset = ExportRequest(source="trades", format="csv", params={}, column_preset="summary")
    assert [c["name"] for c in service.create(BOB, preset)[0].columns or []] == [
        "opened_at",
        "symbol",
        "direction",
        "pnl",
    ]


def test_formats_outside_the_plan_are_refused(service: ExportService) -> None:
    with pytest.raises(Forbidden) as caught:
        service.create(ALICE, trades("parquet"))
    assert caught.value.code == "format_not_in_plan"
    assert service.create(BOB, trades("parquet"))[1]


def test_an_unknown_plan_is_refused(service: ExportService) -> None:
    with pytest.raises(Forbidden) as caught:
        service.create(Principal("carol", "platinum"), trades())
    assert caught.value.code == "plan_unknown"


def test_idempotency_key(service: ExportService) -> None:
    first, created = service.create(ALICE, trades(symbol="A"), idempotency_key="k1")
    again, created_again = service.create(ALICE, trades(symbol="A"), idempotency_key="k1")
    assert (created, created_again) == (True, False)
    assert again.id == first.id
    with pytest.raises(Conflict) as caught:
        service.create(ALICE, trades(symbol="B"), idempotency_key="k1")
    assert caught.value.code == "idempotency_key_reused"
    # Keys belong to their owner.
    assert service.create(BOB, trades(symbol="B"), idempotency_key="k1")[1]


def test_active_exports_limit(service: ExportService) -> None:
    for _ in range(3):
        service.create(ALICE, trades())
    with pytest.raises(LimitReached) as caught:
        service.create(ALICE, trades())
    assert caught.value.code == "active_exports_limit"
    assert caught.value.retry_after_s
    # Finishing one frees a slot.
    [first, *_] = claim_all(service)
    settle(service, first)
    assert service.create(ALICE, trades())[1]


def test_exports_can_be_switched_off(service: ExportService, settings: Settings) -> None:
    view, _ = service.create(ALICE, trades())
    service.settings = settings.model_copy(update={"enable_exports": False})
    with pytest.raises(ServiceDisabled) as caught:
        service.create(ALICE, trades())
    assert caught.value.code == "exports_disabled"
    assert service.get(ALICE, view.id).id == view.id


def test_other_users_exports_are_not_found(service: ExportService) -> None:
    view, _ = service.create(ALICE, trades())
    for action in (service.get, service.cancel, service.retry):
        with pytest.raises(NotFound):
            action(BOB, view.id)
    assert service.get(ADMIN, view.id).owner_id == "alice"
    assert service.list_exports(BOB).items == []


def test_status_follows_the_job(service: ExportService, clock: ManualClock) -> None:
    view, _ = service.create(ALICE, trades())
    [claim] = claim_all(service)
    with service.db.write() as conn:
        service.store.record_progress(conn, claim, {"rows_done": 50, "rows_total": 200})
    running = service.get(ALICE, view.id)
    assert running.status is ExportStatus.RUNNING
    assert running.progress == {"percent": 25.0, "rows_done": 50, "rows_total": 200}
    settle(service, claim, result={"rows": 200})
    done = service.get(ALICE, view.id)
    assert (done.status, done.progress["percent"], done.result) == (
        ExportStatus.COMPLETED,
        100.0,
        {"rows": 200},
    )
    with service.db.write() as conn:
        conn.execute(
            update(exports)
            .where(exports.c.id == view.id)
            .values(expires_at=clock.now() + timedelta(seconds=5))
        )
    clock.advance(6)
    assert service.get(ALICE, view.id).status is ExportStatus.EXPIRED


def test_cancel_then_delete(service: ExportService) -> None:
    running, _ = service.create(ALICE, trades())  # the oldest job is claimed first
    queued, _ = service.create(ALICE, trades())
    with service.db.write() as conn:
        service.store.claim(conn, worker_id="w", queues=["default"], limit=1)
    cancelled = service.cancel(ALICE, queued.id)
    assert cancelled is not None
    assert cancelled.status is ExportStatus.CANCELLED
    still = service.cancel(ALICE, running.id)
    assert still is not None
    assert still.status is ExportStatus.RUNNING  # asked to stop at its next checkpoint
    assert service.cancel(ALICE, queued.id) is None  # a finished export is deleted
    with pytest.raises(NotFound):
        service.get(ALICE, queued.id)


def test_retry_only_failed_and_rate_limited(service: ExportService, clock: ManualClock) -> None:
    view, _ = service.create(ALICE, trades())
    with pytest.raises(Conflict):
        service.retry(ALICE, view.id)
    [claim] = claim_all(service)
    settle(service, claim, error=ErrorInfo("params_invalid", "bad", False))
    failed = service.get(ALICE, view.id)
    assert failed.status is ExportStatus.FAILED
    assert failed.error == {"code": "params_invalid", "message": "bad", "retryable": False}
    assert [v.id for v in service.failed(ALICE)] == [view.id]
    again = service.retry(ALICE, view.id)
    assert (again.status, again.retries, again.error) == (ExportStatus.QUEUED, 1, None)
    [claim] = claim_all(service)
    settle(service, claim, error=ErrorInfo("params_invalid", "bad", False))
    with pytest.raises(LimitReached) as caught:
        service.retry(ALICE, view.id)
    assert caught.value.code == "retry_rate_limited"
    clock.advance(31)
    assert service.retry(ADMIN, view.id).retries == 2


def test_list_filters_paginates_and_counts(service: ExportService, clock: ManualClock) -> None:
    ids = []
    for fmt in ("csv", "json", "csv"):
        ids.append(service.create(BOB, trades(fmt))[0].id)
        clock.advance(1)
    page = service.list_exports(BOB, limit=2, with_stats=True)
    assert [v.id for v in page.items] == [ids[2], ids[1]]
    assert page.stats is not None
    assert page.stats["queued"] == 3
    assert page.next_cursor is not None
    rest = service.list_exports(BOB, limit=2, cursor=page.next_cursor)
    assert [v.id for v in rest.items] == [ids[0]]
    assert rest.next_cursor is None
    csv = service.list_exports(BOB, format="csv").items
    assert [v.id for v in csv] == [ids[2], ids[0]]
    assert service.list_exports(BOB, status=ExportStatus.FAILED).items == []
    assert len(service.list_exports(BOB, status=ExportStatus.QUEUED).items) == 3
    with pytest.raises(RequestInvalid):
        service.list_exports(BOB, cursor="!!not-a-cursor")


def test_usage(service: ExportService) -> None:
    service.create(ALICE, trades())
    usage = service.usage(ALICE)
    assert usage["plan"] == "free"
    assert usage["limits"]["max_active_jobs"] == 3
    assert usage["limits"]["watermark"] is True
    assert usage["usage"] == {
        "active_exports": 1,
        "exports_last_24h": 1,
        "stored_bytes": 0,
        "exported_bytes_last_24h": 0,
    }
    assert usage["remaining"]["active_exports"] == 2
    assert usage["remaining"]["stored_bytes"] == 100 * 1024 * 1024


def race(count: int, action: Any) -> tuple[list[Any], list[BaseException]]:
    results: list[Any] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def run() -> None:
        barrier.wait()
        try:
            results.append(action())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


def test_idempotency_race_makes_one_export(service: ExportService) -> None:
    results, errors = race(8, lambda: service.create(BOB, trades(), idempotency_key="same"))
    assert errors == []
    assert len({view.id for view, _ in results}) == 1
    assert sum(created for _, created in results) == 1


def test_limit_race_at_the_last_slot_lets_one_through(service: ExportService) -> None:
    service.create(ALICE, trades())
    service.create(ALICE, trades())
    results, errors = race(6, lambda: service.create(ALICE, trades()))
    assert len(results) == 1
    assert all(isinstance(e, LimitReached) for e in errors), errors
    assert service.usage(ALICE)["usage"]["active_exports"] == 3


def test_batch_is_all_or_nothing(service: ExportService) -> None:
    views = service.create_batch(BOB, [trades(), trades("json"), trades("parquet")])
    assert [v.format for v in views] == ["csv", "json", "parquet"]
    assert all(v.status is ExportStatus.QUEUED for v in views)
    with pytest.raises(RequestInvalid) as caught:
        service.create_batch(BOB, [trades(), trades(limit=0)])
    assert caught.value.errors[0]["field"] == "items.1.params.limit"
    with pytest.raises(Forbidden) as format_refused:
        service.create_batch(ALICE, [trades(), trades("parquet")])
    assert format_refused.value.code == "format_not_in_plan"
    assert service.list_exports(ALICE).items == []  # nothing of the refused batches
    assert len(service.list_exports(BOB).items) == 3


def test_batch_limits(service: ExportService) -> None:
    with pytest.raises(Forbidden) as too_big:
        service.create_batch(BOB, [trades()] * 11)
    assert too_big.value.code == "batch_size_limit"
    service.create(ALICE, trades())
    with pytest.raises(LimitReached) as no_room:
        service.create_batch(ALICE, [trades()] * 3)  # 1 active + 3 > 3
    assert no_room.value.code == "active_exports_limit"
    assert len(service.create_batch(ALICE, [trades()] * 2)) == 2


def complete_with_size(service: ExportService, principal: Principal, size: int) -> str:
    from exportd.exports.lifecycle import record_outcome
    from tests.support.artifacts import worker_of

    view, _ = service.create(principal, trades())
    [claim] = claim_all(service)
    with service.db.write() as conn:
        settled = service.store.settle(
            conn, Outcome(claim=claim, result={"key": "k", "size": size})
        )
        record_outcome(conn, settled, worker_of(service))
    return view.id


def small_plan(service: ExportService, **limits: int) -> Principal:
    import dataclasses

    from exportd.exports.plans import plan_for, save_plan

    with service.db.write() as conn:
        save_plan(conn, dataclasses.replace(plan_for(conn, "pro"), name="small", **limits))
    return Principal("carol", "small")


def test_storage_quota_is_checked_at_creation(service: ExportService) -> None:
    carol = small_plan(service, storage_quota_bytes=1000)
    complete_with_size(service, carol, 600)
    complete_with_size(service, carol, 400)
    with pytest.raises(Forbidden) as caught:
        service.create(carol, trades())
    assert caught.value.code == "storage_quota_exceeded"
    assert service.usage(carol)["usage"]["stored_bytes"] == 1000


def test_a_result_that_no_longer_fits_is_refused_when_it_settles(
    service: ExportService,
) -> None:
    """The settle hook decides again under the owner's lock (two finishing at once)."""
    carol = small_plan(service, storage_quota_bytes=1000)
    complete_with_size(service, carol, 600)
    with pytest.raises(TerminalJobError) as caught:
        complete_with_size(service, carol, 500)
    assert caught.value.code == "storage_quota_exceeded"
    assert service.usage(carol)["usage"]["stored_bytes"] == 600


def test_daily_bytes_are_checked_at_creation(service: ExportService) -> None:
    carol = small_plan(service, daily_export_bytes=1000)
    complete_with_size(service, carol, 1000)
    with pytest.raises(LimitReached) as caught:
        service.create(carol, trades())
    assert caught.value.code == "daily_export_bytes_exceeded"
    assert caught.value.retry_after_s


@pytest.mark.parametrize("deleter", [ALICE, ADMIN], ids=["owner", "admin"])
def test_a_retry_racing_a_delete_waits_and_finds_it_gone(
    service: ExportService, deleter: Principal
) -> None:
    """The page's Delete decides and deletes in one transaction under the owner's lock.
    Read in one transaction and deleted in another (as the page once did), a retry landing
    between them made the export active again, and the "delete" cancelled the retried
    export instead; now the retry waits for the delete, then finds the export gone."""
    view, _ = service.create(ALICE, trades())
    [claim] = claim_all(service)
    settle(service, claim, error=ErrorInfo("params_invalid", "bad", False))
    outcome: list[BaseException | object] = []

    def retry() -> None:
        try:
            outcome.append(service.retry(ALICE, view.id))
        except BaseException as exc:
            outcome.append(exc)

    retrying = threading.Thread(target=retry)
    locked = service._locked
    waited: list[bool] = []

    def read_then_let_a_retry_in(conn: Any, principal: Principal, export_id: str) -> Any:
        row = locked(conn, principal, export_id)
        if not waited:  # the delete's read, with the decision still to make
            retrying.start()
            retrying.join(timeout=0.5)
            waited.append(retrying.is_alive())  # the retry waits for the delete to end
        return row

    service._locked = read_then_let_a_retry_in  # type: ignore[method-assign]
    service.delete_finished(deleter, view.id)
    retrying.join(timeout=10)
    assert waited == [True]
    [refused] = outcome
    assert isinstance(refused, NotFound), refused
    assert refused.code == "export_not_found"
    with service.db.read() as conn:
        [job] = service.store.list(conn)
        deleted_at = conn.execute(exports.select().where(exports.c.id == view.id)).one().deleted_at
    assert job.state == "failed"  # neither requeued nor cancelled
    assert deleted_at is not None


def test_delete_refuses_an_active_export_and_leaves_it_running(service: ExportService) -> None:
    view, _ = service.create(ALICE, trades())
    claim_all(service)
    with pytest.raises(RequestInvalid) as caught:
        service.delete_finished(ALICE, view.id)
    assert caught.value.code == "export_active"
    assert service.get(ALICE, view.id).status is ExportStatus.RUNNING
    with pytest.raises(NotFound):
        service.delete_finished(BOB, view.id)


def test_export_again_is_a_new_export_of_the_same_request_for_its_owner_only(
    service: ExportService,
) -> None:
    request = ExportRequest(
        source="trades",
        format="csv",
        params={"symbol": "AAPL"},
        columns=(ColumnChoice("symbol", "Ticker"),),
        options={"delimiter": ";"},
    )
    old, _ = service.create(ALICE, request)
    again = service.create_again(ALICE, old.id, correlation_id="req-2")
    assert again.id != old.id
    assert (again.params, again.columns, again.options) == (old.params, old.columns, old.options)
    assert again.correlation_id == "req-2"
    with pytest.raises(Forbidden) as caught:
        service.create_again(ADMIN, old.id)
    assert caught.value.code == "export_again_owner_only"
    with pytest.raises(NotFound):
        service.create_again(BOB, old.id)


def test_a_deleted_export_whose_job_runs_again_takes_no_active_slot(
    service: ExportService, db: Database
) -> None:
    """An operator's `exportd jobs retry` queues a failed export's job again without
    touching the export; its owner may delete the export meanwhile."""
    gone, _ = service.create(ALICE, trades())
    service.create(ALICE, trades())  # kept
    with db.write() as conn:
        conn.execute(
            update(exports).where(exports.c.id == gone.id).values(deleted_at=service.clock.now())
        )
    with db.read() as conn:
        assert active_count(conn, ALICE.user_id) == 1  # kept's job; gone's is queued too

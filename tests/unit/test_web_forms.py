"""The page's form, both ways: a params schema to inputs, a posted form to a request."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from exportd.demo.sources import TradesSource
from exportd.documents.source import RESUME
from exportd.exports.models import ExportStatus, ExportView
from exportd.web import forms
from exportd.web.messages import notice_text
from exportd.web.views import Names, human_bytes, row_of

TRADES = TradesSource().describe()


def test_fields_follow_the_schema_types_and_order() -> None:
    fields = {f.name: f for f in forms.fields_of(TRADES["params_schema"])}
    assert list(fields) == [
        "date_from", "date_to", "symbol", "direction", "status", "tags", "limit",
    ]  # fmt: skip
    assert fields["date_from"].kind == "date"
    assert fields["direction"].kind == "choice"
    assert fields["direction"].choices == ("long", "short")
    assert fields["tags"].kind == "list"
    assert fields["limit"].kind == "integer"
    assert fields["limit"].minimum == 1
    assert fields["symbol"].kind == "text"
    assert fields["date_from"].help == "opened on or after"


def test_empty_inputs_are_not_sent_and_lists_are_split() -> None:
    form = {"p.symbol": " AAPL ", "p.direction": "", "p.tags": "swing, ,momentum", "p.limit": "50"}
    params = forms.params_from_form(form, forms.fields_of(TRADES["params_schema"]))
    assert params == {"symbol": "AAPL", "tags": ["swing", "momentum"], "limit": 50}


def test_a_bad_integer_reaches_the_api_as_written_so_it_can_name_it() -> None:
    params = forms.params_from_form({"p.limit": "ten"}, forms.fields_of(TRADES["params_schema"]))
    assert params == {"limit": "ten"}


def test_every_column_unrenamed_is_the_default_and_sends_nothing() -> None:
    names = [c["name"] for c in TRADES["columns"]]
    assert forms.columns_from_form(names, {}, all_columns=names) is None


def test_columns_keep_page_order_and_renames() -> None:
    names = [c["name"] for c in TRADES["columns"]]
    form = {"label.pnl": "P&L", "label.symbol": "symbol", "label.direction": " "}
    chosen = forms.columns_from_form(["symbol", "pnl", "direction", "pnl"], form, all_columns=names)
    assert chosen == [{"name": "symbol"}, {"name": "pnl", "label": "P&L"}, {"name": "direction"}]


def test_a_preset_puts_its_columns_first_and_checked() -> None:
    ordered = forms.ordered_columns(TRADES["columns"], ["pnl", "symbol"])
    assert [(c["name"], checked) for c, checked in ordered[:3]] == [
        ("pnl", True),
        ("symbol", True),
        ("id", False),
    ]
    assert len(ordered) == len(TRADES["columns"])
    assert all(checked for _c, checked in forms.ordered_columns(TRADES["columns"], None))


def test_a_rows_form_becomes_a_request_with_options_and_notify() -> None:
    form = {
        "format": "csv",
        "p.symbol": "MSFT",
        "label.pnl": "Profit",
        "timezone": "Europe/Paris",
        "delimiter": "semicolon",
        "bom": "on",
        "locale": "de_DE",
        "notify_email": "bob@example.com",
        "notify_webhook_url": "",
    }
    body = forms.export_body(form, ["symbol", "pnl"], TRADES)
    assert body == {
        "source": "trades",
        "format": "csv",
        "params": {"symbol": "MSFT"},
        "columns": [{"name": "symbol"}, {"name": "pnl", "label": "Profit"}],
        "options": {"timezone": "Europe/Paris", "delimiter": ";", "bom": True, "locale": "de_DE"},
        "notify": {"email": "bob@example.com"},
    }


def test_keep_partial_is_sent_for_tables_only() -> None:
    names = [c["name"] for c in TRADES["columns"]]
    body = forms.export_body({"format": "parquet", "keep_partial": "on"}, names, TRADES)
    assert body["options"] == {"keep_partial": True}
    document = forms.export_body({"format": "pdf", "keep_partial": "on"}, [], RESUME.describe())
    assert "options" not in document


def test_csv_options_are_not_sent_for_other_formats() -> None:
    form = {"format": "xlsx", "delimiter": "tab", "bom": "on", "locale": "de_DE"}
    names = [c["name"] for c in TRADES["columns"]]
    assert "options" not in forms.export_body(form, names, TRADES)


def test_a_document_form_sends_template_document_and_page_size() -> None:
    form = {"format": "pdf", "template": "modern", "p.page_size": "letter", "p.document_id": ""}
    body = forms.export_body(form, [], RESUME.describe())
    assert body == {
        "source": "resume",
        "format": "pdf",
        "params": {"page_size": "letter"},
        "template": "modern",
    }


def _view(status: ExportStatus, **extra: Any) -> ExportView:
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    values: dict[str, Any] = {
        "id": "e1",
        "owner_id": "alice",
        "plan": "free",
        "source": "trades",
        "format": "csv",
        "status": status,
        "params": {},
        "columns": None,
        "template": None,
        "notify": None,
        "options": None,
        "progress": {"percent": None, "rows_done": None, "rows_total": None},
        "error": None,
        "result": None,
        "correlation_id": None,
        "retries": 0,
        "created_at": now,
        "updated_at": now,
        "started_at": None,
        "finished_at": None,
        "expires_at": None,
    }
    values.update(extra)
    return ExportView(**values)


@pytest.mark.parametrize(
    ("status", "actions"),
    [
        # Active: it can only be stopped.
        (ExportStatus.QUEUED, {"cancel"}),
        (ExportStatus.RUNNING, {"cancel"}),
        # Done: fetched or removed.
        (ExportStatus.COMPLETED, {"download", "delete"}),
        # Failed: tried again, or removed.
        (ExportStatus.FAILED, {"retry", "delete"}),
        # Gone or stopped: the same request once more brings it back.
        (ExportStatus.EXPIRED, {"again", "delete"}),
        (ExportStatus.CANCELLED, {"again", "delete"}),
    ],
)
def test_each_status_offers_its_actions(status: ExportStatus, actions: set[str]) -> None:
    row = row_of(_view(status), viewer="alice", watermark_plan=False)
    offered = {
        name
        for name, allowed in {
            "cancel": row.can_cancel,
            "retry": row.can_retry,
            "download": row.can_download,
            "again": row.can_run_again,
            "delete": row.can_delete,
        }.items()
        if allowed
    }
    assert offered == actions


@pytest.mark.parametrize("status", [ExportStatus.EXPIRED, ExportStatus.CANCELLED])
def test_another_users_export_is_never_offered_again(status: ExportStatus) -> None:
    # An admin sees it; a re-run would mix the admin's identity with the owner's request.
    assert row_of(_view(status), viewer="alice", watermark_plan=False).can_run_again
    assert not row_of(_view(status), viewer="admin", watermark_plan=False).can_run_again


def test_a_failure_that_kept_its_rows_offers_them_for_download() -> None:
    partial = {"key": "k", "filename": "t.csv", "size": 10, "row_count": 5, "partial": True}
    row = row_of(_view(ExportStatus.FAILED, result=partial), viewer="alice", watermark_plan=False)
    assert row.can_download
    assert row.can_retry


def test_a_failure_reads_as_words_then_the_services_message() -> None:
    error = {"code": "row_limit_exceeded", "message": "the free plan allows 100,000 rows"}
    row = row_of(_view(ExportStatus.FAILED, error=error), viewer="alice", watermark_plan=False)
    assert row.reason == (
        "More rows than your plan allows in one export. (the free plan allows 100,000 rows)"
    )
    unknown = row_of(
        _view(ExportStatus.FAILED, error={"code": "x", "message": "it broke"}),
        viewer="alice",
        watermark_plan=False,
    )
    assert unknown.reason == "It broke."
    bare = row_of(
        _view(ExportStatus.FAILED, error={"code": "x_y", "message": "x_y"}),
        viewer="alice",
        watermark_plan=False,
    )
    assert bare.reason == "It failed."  # a bare code is never the words


def test_progress_and_file_text() -> None:
    running = row_of(
        _view(
            ExportStatus.RUNNING,
            progress={"percent": 41.6, "rows_done": 4_160, "rows_total": 10_000},
        ),
        viewer="alice",
        watermark_plan=False,
    )
    assert (running.percent, running.progress_text) == (42, "4,160 of 10,000 rows")
    result = {"filename": "t.csv", "size": 2_500_000, "row_count": 1}
    done = row_of(_view(ExportStatus.COMPLETED, result=result), viewer="alice", watermark_plan=True)
    assert done.file_text == "t.csv · 2.4 MB · 1 row"
    assert not done.watermarked  # a CSV carries no watermark
    pdf = row_of(
        _view(ExportStatus.COMPLETED, format="pdf", result=result),
        viewer="alice",
        watermark_plan=True,
    )
    assert pdf.watermarked
    assert pdf.file_text == "t.csv · 2.4 MB"


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (1_023, "1,023 B"),
        (1_024, "1 KB"),
        (104_857_600, "100 MB"),
        (3 * 1024**3, "3 GB"),
    ],
)
def test_sizes_read_like_a_person_writes_them(size: int, text: str) -> None:
    assert human_bytes(size) == text


def test_formats_outside_the_plan_are_offered_disabled_with_the_reason() -> None:
    choices = forms.format_choices(["parquet", "csv", "xlsx"], allowed=["csv", "xlsx", "pdf"])
    assert [(c.format, c.allowed, c.selected) for c in choices] == [
        ("parquet", False, False),
        ("csv", True, True),  # the first the plan allows starts chosen
        ("xlsx", True, False),
    ]
    assert forms.plan_note(choices, "free") == "Parquet is not in your plan (free)."
    two = forms.format_choices(["csv", "xlsx", "parquet"], allowed=["csv"])
    assert forms.plan_note(two, "free") == "XLSX and Parquet are not in your plan (free)."
    assert forms.plan_note(forms.format_choices(["csv"], ["csv"]), "pro") is None


@pytest.mark.parametrize(
    ("code", "message", "words"),
    [
        # Our words for a code the page meets.
        ("export_not_active", "the export is completed",
         "Already finished, nothing to cancel."),
        # Else the service's message, as a sentence.
        ("format_not_in_plan", "the free plan does not include parquet exports",
         "The free plan does not include parquet exports."),
        # A message that is only a code says nothing to a person.
        ("weird_code", "weird_code", "That did not work."),
    ],
)  # fmt: skip
def test_a_refusal_reads_as_words_never_as_its_code(code: str, message: str, words: str) -> None:
    assert notice_text(code, message) == words


NAMES = Names(
    sources={"trades": TRADES, "resume": RESUME.describe()},
    documents={"d1": "Short resume"},
    templates={"modern": "Modern"},
)


def test_a_card_names_its_source_and_sums_up_filters_and_columns() -> None:
    view = _view(
        ExportStatus.QUEUED,
        params={"symbol": "AAPL", "tags": ["swing", "momentum"], "status": None},
        columns=[{"name": "symbol"}, {"name": "pnl", "label": "P&L"}],
    )
    row = row_of(view, viewer="alice", watermark_plan=False, names=NAMES)
    assert row.title == "Trades · CSV"
    assert row.summary == ("Symbol: AAPL · Tags: swing, momentum", "2 columns: Symbol, P&L")
    every = row_of(_view(ExportStatus.QUEUED), viewer="alice", watermark_plan=False, names=NAMES)
    assert every.summary == ("No filters", f"All {len(TRADES['columns'])} columns")
    many = [{"name": c["name"]} for c in TRADES["columns"][:8]]
    long = row_of(
        _view(ExportStatus.QUEUED, columns=many), viewer="alice", watermark_plan=False, names=NAMES
    )
    assert long.summary[1].startswith("8 columns: ")
    assert long.summary[1].endswith(", and 2 more")


def test_a_resume_card_names_the_resume_template_and_page_size() -> None:
    chosen = _view(
        ExportStatus.QUEUED,
        source="resume",
        format="pdf",
        template="modern",
        params={"document_id": "d1", "page_size": "letter"},
    )
    row = row_of(chosen, viewer="alice", watermark_plan=False, names=NAMES)
    assert row.title == "Resume · PDF"
    assert row.summary == ("Short resume · template Modern · Letter",)
    default = _view(ExportStatus.QUEUED, source="resume", format="pdf", params={})
    assert row_of(default, viewer="alice", watermark_plan=False, names=NAMES).summary == (
        "Your default resume",
    )


def test_the_owner_is_shown_to_an_admin_only() -> None:
    view = _view(ExportStatus.COMPLETED)
    assert row_of(view, viewer="admin", watermark_plan=False, admin=True).owner == "alice"
    assert row_of(view, viewer="alice", watermark_plan=False).owner is None


def test_a_retry_says_which_attempt_failed_and_why() -> None:
    failed = {"code": "storage_unavailable", "message": "the bucket did not answer"}
    waiting = _view(ExportStatus.QUEUED, attempts=1, max_attempts=3, last_attempt_error=failed)
    row = row_of(waiting, viewer="alice", watermark_plan=False)
    assert (
        row.progress_text == "Attempt 1 of 3 failed: The bucket did not answer. It will try again."
    )
    running = _view(ExportStatus.RUNNING, attempts=2, max_attempts=3, last_attempt_error=failed)
    assert row_of(running, viewer="alice", watermark_plan=False).progress_text == (
        "Attempt 1 of 3 failed: The bucket did not answer. It is trying again."
    )
    first = _view(ExportStatus.RUNNING, attempts=1, max_attempts=3)
    assert row_of(first, viewer="alice", watermark_plan=False).progress_text == ""

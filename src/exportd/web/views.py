"""What the page shows of an export, worked out once so templates stay simple."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from exportd.exports.models import ExportStatus, ExportView
from exportd.web.forms import fields_of, format_name
from exportd.web.messages import sentence

# A failure's code in words a user can act on; the service's own message follows it.
REASONS = {
    "params_invalid": "The filters are no longer valid for this source.",
    "row_limit_exceeded": "More rows than your plan allows in one export.",
    "daily_export_bytes_exceeded": "Your plan's daily export volume is used up.",
    "storage_quota_exceeded": "Your plan's storage is full: delete old exports to make room.",
    "document_not_found": "The resume to export was not found.",
    "document_invalid": "The resume is missing something the template needs.",
    "document_sections_missing": "The resume lacks a section the template needs.",
    "too_many_sections": "The resume has more sections than the template allows.",
    "template_unknown": "The template no longer exists.",
    "page_limit_exceeded": "The document is longer than the page limit.",
    "render_failed": "The document could not be typeset.",
    "time_limit_exceeded": "It took longer than the time limit.",
    "memory_limit_exceeded": "It needed more memory than allowed.",
    "storage_unavailable": "The file store was unavailable on every attempt.",
    "connection_unavailable": "The database holding these rows could not be reached.",
    "statement_timeout": "The query took longer than its database allows.",
}

DOCUMENT_FORMATS = ("pdf", "html")

STATUS_LABELS = {
    ExportStatus.QUEUED: "Queued",
    ExportStatus.RUNNING: "Running",
    ExportStatus.COMPLETED: "Ready",
    ExportStatus.FAILED: "Failed",
    ExportStatus.CANCELLED: "Cancelled",
    ExportStatus.EXPIRED: "Expired",
    ExportStatus.SKIPPED: "Skipped",
}


# What a cancel found when the export had already ended, said on its card.
TOO_LATE_TO_CANCEL = {
    ExportStatus.COMPLETED: "Already finished, nothing to cancel.",
    ExportStatus.EXPIRED: "Already finished, nothing to cancel.",
    ExportStatus.FAILED: "It had already failed, nothing to cancel.",
    ExportStatus.CANCELLED: "It was already cancelled.",
    ExportStatus.SKIPPED: "Already finished, nothing to cancel.",
}
SHOWN_COLUMNS = 6  # a longer choice of columns reads "…, and 9 more"


@dataclass(frozen=True, slots=True)
class Names:
    """The words for what a row names by id: sources (as ``describe()`` gives them),
    the viewer's documents and the templates.  Unknown ones read as their id."""

    sources: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    documents: Mapping[str, str] = field(default_factory=dict)
    templates: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Row:
    """One export as a line of the list."""

    id: str
    title: str
    summary: tuple[str, ...]  # its filters, then its columns (or resume and template)
    owner: str | None  # shown to an admin, whose list holds everyone's exports
    status: str
    status_label: str
    percent: int | None
    progress_text: str
    file_text: str | None
    reason: str | None
    error_code: str | None
    watermarked: bool
    created_at: datetime
    expires_at: datetime | None
    can_cancel: bool
    can_retry: bool
    can_download: bool  # a completed export's file, or the partial file a failed one kept
    can_run_again: bool  # only the owner's own: an admin's re-run would mix two principals
    can_delete: bool
    flash: str | None = None  # what the action just taken did, said on the card
    destinations: tuple[DestinationLine, ...] = ()


@dataclass(frozen=True, slots=True)
class DestinationLine:
    """Where an export is delivered, and how that went."""

    name: str
    status: str
    status_label: str
    where: str | None  # the object key or the path there
    reason: str | None
    error_code: str | None


DESTINATION_LABELS = {
    "pending": "Sending",
    "sent": "Sent",
    "failed": "Failed",
    "cancelled": "Cancelled",
    "skipped": "Not sent: no file",
}


def row_of(
    view: ExportView,
    *,
    viewer: str,
    watermark_plan: bool,
    admin: bool = False,
    names: Names | None = None,
) -> Row:
    """``viewer`` is the signed-in user (an admin also sees other users' exports)."""
    names = names or Names()
    source = names.sources.get(view.source)
    status = view.status
    progress = view.progress
    percent = progress.get("percent")
    result = view.result or {}
    error = view.error or {}
    code = error.get("code")
    return Row(
        id=view.id,
        title=f"{source['title'] if source else view.source} · {format_name(view.format)}",
        summary=summary_of(view, source, names),
        owner=view.owner_id if admin else None,
        status=status.value,
        status_label=STATUS_LABELS[status],
        percent=None if percent is None else round(percent),
        progress_text=_retry_text(view)
        or _progress_text(progress.get("rows_done"), progress.get("rows_total")),
        file_text=_file_text(result, document=view.format in DOCUMENT_FORMATS)
        if status is ExportStatus.COMPLETED
        else None,
        reason=_reason(code, error.get("message")) if status is ExportStatus.FAILED else None,
        error_code=code,
        watermarked=watermark_plan and view.format == "pdf",
        created_at=view.created_at,
        expires_at=view.expires_at,
        can_cancel=status.is_active,
        can_retry=status is ExportStatus.FAILED,
        can_download=status is ExportStatus.COMPLETED or bool(result.get("partial")),
        can_run_again=status in (ExportStatus.EXPIRED, ExportStatus.CANCELLED)
        and view.owner_id == viewer,
        can_delete=not status.is_active,
        destinations=tuple(_destination_line(d) for d in view.destinations or ()),
    )


def _destination_line(entry: Mapping[str, Any]) -> DestinationLine:
    error = entry.get("error") or {}
    kind = str(entry.get("kind") or "destination").upper().replace("DESTINATION", "Destination")
    return DestinationLine(
        name=str(entry.get("name") or f"{kind} {str(entry['id'])[:8]}"),
        status=str(entry["status"]),
        status_label=DESTINATION_LABELS.get(str(entry["status"]), str(entry["status"])),
        where=entry.get("remote_key"),
        reason=sentence(error.get("message")) if entry["status"] == "failed" else None,
        error_code=error.get("code") if entry["status"] == "failed" else None,
    )


def summary_of(view: ExportView, source: Mapping[str, Any] | None, names: Names) -> tuple[str, ...]:
    """What the export asked for, in a line or two: filters and columns for rows; the
    resume, template and page size for a document."""
    params = dict(view.params)
    if view.format in DOCUMENT_FORMATS:
        return (_document_summary(view, params, names),)
    labels = {f.name: f.label for f in fields_of(source["params_schema"])} if source else {}
    filters = [
        f"{labels.get(name, name)}: {_value_text(value)}"
        for name, value in params.items()
        if value not in (None, "", [])
    ]
    return (" · ".join(filters) or "No filters", _columns_summary(view.columns, source))


def _document_summary(view: ExportView, params: dict[str, Any], names: Names) -> str:
    document = params.get("document_id")
    if document is None:
        resume = "Your default resume"
    else:
        resume = names.documents.get(str(document), "A resume you chose")
    parts = [resume]
    if view.template:
        parts.append(f"template {names.templates.get(view.template, view.template)}")
    if params.get("page_size"):
        size = str(params["page_size"])
        parts.append({"a4": "A4", "letter": "Letter"}.get(size, size))
    return " · ".join(parts)


def _value_text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return str(value)


def _columns_summary(columns: list[dict[str, str]] | None, source: Mapping[str, Any] | None) -> str:
    known = {c["name"]: c["label"] for c in source["columns"]} if source else {}
    if not columns:
        return f"All {len(known)} columns" if known else "All columns"
    headers = [c.get("label") or known.get(c["name"], c["name"]) for c in columns]
    shown = ", ".join(headers[:SHOWN_COLUMNS])
    more = len(headers) - SHOWN_COLUMNS
    count = f"{len(headers)} column" + ("" if len(headers) == 1 else "s")
    return f"{count}: {shown}" + (f", and {more} more" if more > 0 else "")


def _retry_text(view: ExportView) -> str:
    """While an attempt failed and another is due: which one, and why (not its time: the
    page refreshes by itself, and the API carries ``next_attempt_at``)."""
    failed = view.last_attempt_error
    if not failed or not view.status.is_active:
        return ""
    tried = view.attempts - (1 if view.status is ExportStatus.RUNNING else 0)
    of = f" of {view.max_attempts}" if view.max_attempts else ""
    again = "is trying again" if view.status is ExportStatus.RUNNING else "will try again"
    why = sentence(failed.get("message")) or "it failed."
    return f"Attempt {tried}{of} failed: {why} It {again}."


def _progress_text(done: int | None, total: int | None) -> str:
    if done is None:
        return ""
    if total:
        return f"{done:,} of {total:,} rows"
    return f"{done:,} rows"


def _file_text(result: dict[str, object], *, document: bool) -> str:
    size = result.get("stored_bytes", result.get("size"))  # a split's: every file
    parts = [str(result.get("filename", "file"))]
    if isinstance(size, int):
        parts.append(human_bytes(size))
    split = result.get("split")
    if isinstance(split, dict) and isinstance(split.get("parts"), int):
        parts.append(f"{split['parts']:,} part" + ("" if split["parts"] == 1 else "s"))
    rows = result.get("row_count")
    if isinstance(rows, int) and not document:
        parts.append(f"{rows:,} row" + ("" if rows == 1 else "s"))
    cut = result.get("cells_cut")
    if isinstance(cut, int) and cut:
        parts.append(f"{cut:,} long cells shortened to Excel's 32,767 characters")
    return " · ".join(parts)


def _reason(code: str | None, message: str | None) -> str:
    words = REASONS.get(code or "")
    if words and message:
        return f"{words} ({message})"
    return words or sentence(message) or "It failed."


def human_bytes(size: int) -> str:
    """Binary multiples with the everyday names: a 100 MiB quota reads "100 MB"."""
    value = float(size)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{_short(value)} {unit}"
        value /= 1024
    return f"{_short(value)} GB"


def _short(value: float) -> str:
    return f"{value:,.1f}".removesuffix(".0")


def share(used: int, limit: int) -> int:
    """Per cent of a limit used, for a meter (0 when the limit is zero)."""
    return 0 if limit <= 0 else min(100, round(100 * used / limit))

"""What the page shows of an export, worked out once so templates stay simple."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from exportd.exports.models import ExportStatus, ExportView
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
}

DOCUMENT_FORMATS = ("pdf", "html")

STATUS_LABELS = {
    ExportStatus.QUEUED: "Queued",
    ExportStatus.RUNNING: "Running",
    ExportStatus.COMPLETED: "Ready",
    ExportStatus.FAILED: "Failed",
    ExportStatus.CANCELLED: "Cancelled",
    ExportStatus.EXPIRED: "Expired",
}


@dataclass(frozen=True, slots=True)
class Row:
    """One export as a line of the list."""

    id: str
    title: str
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


def row_of(view: ExportView, *, viewer: str, watermark_plan: bool) -> Row:
    """``viewer`` is the signed-in user (an admin also sees other users' exports)."""
    status = view.status
    progress = view.progress
    percent = progress.get("percent")
    result = view.result or {}
    error = view.error or {}
    code = error.get("code")
    return Row(
        id=view.id,
        title=f"{view.source} · {view.format.upper()}",
        status=status.value,
        status_label=STATUS_LABELS[status],
        percent=None if percent is None else round(percent),
        progress_text=_progress_text(progress.get("rows_done"), progress.get("rows_total")),
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
    )


def _progress_text(done: int | None, total: int | None) -> str:
    if done is None:
        return ""
    if total:
        return f"{done:,} of {total:,} rows"
    return f"{done:,} rows"


def _file_text(result: dict[str, object], *, document: bool) -> str:
    size = result.get("size")
    parts = [str(result.get("filename", "file"))]
    if isinstance(size, int):
        parts.append(human_bytes(size))
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

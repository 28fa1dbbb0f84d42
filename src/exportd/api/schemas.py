"""Request and response bodies of the API (Pydantic), and their mapping to the domain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    field_validator,
)
from pydantic_core import PydanticCustomError

from exportd.api.numbers import COUNT_MAX, Count, RunningCap
from exportd.api.split_schemas import SplitIn, SplitOut
from exportd.exports.models import ColumnChoice, ExportRequest, ExportStatus, ExportView
from exportd.formats.localized import parse_locale


class ColumnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    label: str | None = Field(default=None, min_length=1, max_length=256)


class NotifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    webhook_url: str | None = Field(default=None, max_length=2048, pattern=r"^https?://")


class OptionsIn(BaseModel):
    """How the file is written; the defaults are machine-readable."""

    model_config = ConfigDict(extra="forbid")

    delimiter: Literal[",", ";", "\t", "|"] | None = Field(default=None, description="CSV only")
    bom: StrictBool | None = Field(default=None, description="CSV only: a UTF-8 byte-order mark")
    timezone: str | None = Field(
        default=None, max_length=64, description="IANA zone for timestamps (UTC)"
    )
    locale: str | None = Field(
        default=None,
        max_length=32,
        description="CSV only: numbers and dates as this locale writes them (de_DE: "
        "1234,5 and 22.11.2026); machine-readable when absent",
    )

    line_terminator: Literal["\n", "\r\n"] | None = Field(
        default=None,
        description='CSV only: "\\n" (the default) or RFC 4180\'s "\\r\\n"',
    )

    pdf_standard: Literal["pdf/a-2b"] | None = Field(
        default=None,
        description="PDF documents only: an archival PDF/A-2b file (sRGB output intent, "
        "XMP metadata, every font embedded); refused with pdf_standard_unsupported when "
        "the template's engine cannot make it",
    )

    compression: Literal["gzip", "zip"] | None = Field(
        default=None,
        description="CSV, JSON Lines and JSON: the file compressed as it is written, "
        "downloaded as `NAME.gz` (`application/gzip`) or as a zip of the one file "
        "`NAME.zip` (`application/zip`); refused with option_not_applicable for other formats",
    )

    keep_partial: StrictBool | None = Field(
        default=None,
        description="tabular formats: if the export fails after writing rows, keep a "
        "valid file of those rows (the export still fails; its result says partial)",
    )

    split: SplitIn | None = Field(
        default=None,
        description="CSV, JSON Lines, JSON, Parquet, XLSX (by rows): several files and a "
        "signed manifest.json, in one zip or each with its own link; see docs/formats.md",
    )

    # Which zones and locales exist is this server's tz and CLDR data, not a schema: a
    # name it does not know is a rule's refusal (its own code), not a malformed request.
    @field_validator("locale")
    @classmethod
    def _known_locale(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(parse_locale(value))
        except ValueError as exc:
            raise PydanticCustomError("locale_unknown", str(exc)) from None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise PydanticCustomError(
                "timezone_unknown", "not an IANA time zone, e.g. Europe/Paris"
            ) from None
        return value


class ExportCreate(BaseModel):
    """``columns``: names in the order wanted; ``"name:Label"`` or ``{name, label}`` renames."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=64)
    format: str = Field(min_length=1, max_length=16)
    params: dict[str, Any] = Field(default_factory=dict)
    columns: list[ColumnIn] | None = Field(default=None, max_length=500)
    column_preset: str | None = Field(default=None, max_length=64)
    template: str | None = Field(default=None, max_length=128)
    notify: NotifyIn | None = None
    options: OptionsIn | None = None
    destinations: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None,
        max_length=10,
        description="ids of your destinations (`/v1/destinations`) to deliver the file to",
    )

    @field_validator("columns", mode="before")
    @classmethod
    def _columns_from_strings(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        return [_column(item) for item in value]

    def to_domain(self) -> ExportRequest:
        return ExportRequest(
            source=self.source,
            format=self.format,
            params=self.params,
            columns=tuple(ColumnChoice(c.name, c.label) for c in self.columns)
            if self.columns is not None
            else None,
            column_preset=self.column_preset,
            template=self.template,
            notify=self.notify.model_dump(exclude_none=True) if self.notify else None,
            options=self.options.model_dump(exclude_none=True) if self.options else None,
            destinations=tuple(self.destinations) if self.destinations else None,
        )


class BatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # No minimum here: an empty batch is refused as such (422 batch_empty), not as a
    # schema violation.
    items: list[ExportCreate] = Field(max_length=100)


class BatchOut(BaseModel):
    items: list[ExportOut]


def _column(item: Any) -> Any:
    if isinstance(item, str):
        name, _, label = item.partition(":")
        return {"name": name, "label": label or None}
    return item


class Progress(BaseModel):
    percent: float | None
    rows_done: int | None
    rows_total: int | None


class ErrorOut(BaseModel):
    code: str
    message: str
    retryable: bool


class Links(BaseModel):
    self: str
    events: str
    download: str | None
    files: str | None = Field(
        default=None, description="the export's files, each with its own download (a split's)"
    )


class ColumnOut(BaseModel):
    name: str
    # Only a rename is shown: a column not renamed has no label here.
    label: str | None = Field(
        default=None, exclude_if=lambda label: label is None, description="the rename asked for"
    )


class ExportResult(BaseModel):
    """The file an export produced (or, failed with ``keep_partial``, the rows it kept)."""

    model_config = ConfigDict(extra="allow")  # what a newer worker adds still shows

    filename: str
    content_type: str
    size: int = Field(description="bytes")
    sha256: str = Field(description="hex digest of the file's bytes")
    row_count: int = Field(description="rows written (1 for a document)")
    key: str = Field(description="where storage keeps the file")
    partial: bool | None = Field(
        default=None, description="true: the export failed and this is the file of its rows"
    )
    cells_cut: int | None = Field(
        default=None, description="XLSX cells shortened to Excel's 32,767 characters"
    )
    template: str | None = Field(default=None, description="documents: the template used")
    template_version: str | None = None
    compression: Literal["gzip", "zip"] | None = Field(
        default=None,
        description="`options.compression`: the file is this compression of the format's file",
    )
    split: SplitOut | None = Field(
        default=None,
        description="`options.split`: the parts made; with `parts` delivery the file here is "
        "the manifest and `links.files` lists every file",
    )
    signing_key: str | None = Field(
        default=None, description="split exports: the `kid` of the key that signed the manifest"
    )
    stored_bytes: int | None = Field(
        default=None, description="split into parts: bytes of every file stored (the quota's)"
    )


class DestinationDeliveryOut(BaseModel):
    """One destination an export names, and its delivery there."""

    id: str = Field(description="the destination's id")
    status: Literal["pending", "sent", "failed", "cancelled", "skipped"] = Field(
        description="skipped: the export ended without a file, so nothing was sent"
    )
    name: str | None = Field(description="the destination's name when the file was sent")
    kind: Literal["s3", "sftp"] | None
    remote_key: str | None = Field(
        description="the object key in the bucket, or the path on the SFTP server; a split "
        "delivered as parts: its manifest's, the last file sent"
    )
    files: int | None = Field(
        default=None,
        description="files sent there: 1, or a split delivered as parts: every part, the "
        "manifest and its signature (`status` is `sent` once all of them are)",
    )
    error: ErrorOut | None = Field(description="why the last attempt failed")
    attempts: int
    delivery_id: str | None = Field(description="retry a failed one at /v1/deliveries/{id}/retry")


class ExportOut(BaseModel):
    id: str
    owner_id: str
    source: str
    format: str
    status: ExportStatus
    params: dict[str, Any] = Field(description="as the source's params schema read them")
    columns: list[ColumnOut] | None
    template: str | None
    notify: dict[str, Any] | None = Field(description="as asked: `email`, `webhook_url`")
    options: dict[str, Any] | None = Field(description="as asked: see `OptionsIn`")
    progress: Progress
    error: ErrorOut | None
    result: ExportResult | None
    correlation_id: str | None
    retries: int
    links: Links
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime | None
    download_count: int = Field(description="times the file was downloaded (links and owner)")
    last_downloaded_at: datetime | None
    attempts: int = Field(
        description="attempts of this run so far, the running one included (0: not started)"
    )
    max_attempts: int | None = Field(description="attempts allowed before the export fails")
    last_attempt_error: ErrorOut | None = Field(
        description="while queued or running again: why the previous attempt failed"
    )
    next_attempt_at: datetime | None = Field(
        description="while queued after a failed attempt: when the next one may start"
    )
    schedule_id: str | None = Field(
        default=None, description="the schedule that made it (`/v1/schedules/{id}`)"
    )
    destinations: list[DestinationDeliveryOut] | None = Field(
        default=None, description="as asked, each with its delivery"
    )

    @classmethod
    def of(cls, view: ExportView) -> ExportOut:
        base = f"/v1/exports/{view.id}"
        done = view.status is ExportStatus.COMPLETED
        download = f"{base}/download" if done else None
        # A split's files (their storage keys) are listed by GET …/files, not here.
        result = {k: v for k, v in (view.result or {}).items() if k != "files"}
        return cls(
            id=view.id,
            owner_id=view.owner_id,
            source=view.source,
            format=view.format,
            status=view.status,
            params=view.params,
            columns=[ColumnOut(**c) for c in view.columns] if view.columns is not None else None,
            template=view.template,
            notify=view.notify,
            options=view.options,
            progress=Progress(**view.progress),
            error=ErrorOut(**view.error) if view.error else None,
            result=ExportResult(**result) if result else None,
            correlation_id=view.correlation_id,
            retries=view.retries,
            links=Links(
                self=base,
                events=f"{base}/events",
                download=download,
                files=f"{base}/files" if done else None,
            ),
            created_at=view.created_at,
            updated_at=view.updated_at,
            started_at=view.started_at,
            finished_at=view.finished_at,
            expires_at=view.expires_at,
            download_count=view.download_count,
            last_downloaded_at=view.last_downloaded_at,
            attempts=view.attempts,
            max_attempts=view.max_attempts,
            last_attempt_error=(
                ErrorOut(**view.last_attempt_error) if view.last_attempt_error else None
            ),
            next_attempt_at=view.next_attempt_at,
            schedule_id=view.schedule_id,
            destinations=[DestinationDeliveryOut(**d) for d in view.destinations]
            if view.destinations
            else None,
        )


class ExportPage(BaseModel):
    items: list[ExportOut]
    next_cursor: str | None
    stats: dict[str, int] | None = None


class SourceColumn(BaseModel):
    name: str
    type: str
    label: str = Field(description="the CSV and XLSX header unless the request renames")


class SourceOut(BaseModel):
    name: str
    title: str
    kind: Literal["rows", "document"]
    formats: list[str]
    params_schema: dict[str, Any] = Field(description="JSON Schema of the source's `params`")
    columns: list[SourceColumn]
    column_presets: dict[str, list[str]]


Format = Literal["csv", "jsonl", "json", "xlsx", "parquet", "pdf", "html"]


class Limits(BaseModel):
    """A plan's limits."""

    model_config = ConfigDict(extra="forbid")

    max_active_jobs: Count = Field(ge=1, le=10_000)
    max_batch_size: Count = Field(ge=1, le=1_000)
    storage_quota_bytes: Count = Field(ge=0, le=COUNT_MAX)
    daily_export_bytes: Count = Field(ge=0, le=COUNT_MAX)
    max_rows: Count = Field(ge=1, le=COUNT_MAX)
    retention_days: Count = Field(ge=1, le=3650)
    formats_allowed: list[Format] = Field(min_length=1)
    watermark: StrictBool
    max_schedules: Count = Field(default=5, ge=0, le=10_000, description="schedules an owner keeps")
    min_schedule_interval_s: Count = Field(
        default=3600, ge=1, le=31_622_400, description="least time between two runs of a schedule"
    )
    max_running: RunningCap | None = Field(
        default=None, description="an owner's exports running at once (null: no cap)"
    )


class UsageNow(BaseModel):
    active_exports: int
    exports_last_24h: int
    stored_bytes: int
    exported_bytes_last_24h: int


class UsageLeft(BaseModel):
    active_exports: int
    stored_bytes: int
    exported_bytes_today: int


class Usage(BaseModel):
    plan: str
    limits: Limits
    usage: UsageNow
    remaining: UsageLeft


class TemplateOut(BaseModel):
    name: str
    version: str
    title: str
    description: str
    engine: Literal["typst", "html"]
    required_sections: list[str]
    max_sections: int
    page_size: Literal["a4", "letter"]
    fonts: list[str]
    formats: list[str]


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, str] = Field(description="`ok`, or why not: database, migrations, storage")
    connections: dict[str, str] = Field(
        default_factory=dict,
        description="each named data connection: `ok`, or why not (not part of readiness)",
    )


class FieldError(BaseModel):
    model_config = ConfigDict(extra="allow")

    field: str = Field(description="where, as a dotted path: `params.limit`, `items.0.format`")
    message: str


class Problem(BaseModel):
    """An error (RFC 9457): ``code`` is stable and says what happened; ``detail`` is for
    people and may change."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="`https://exportd.dev/problems/{code}`")
    title: str = Field(description="the code in words")
    status: int = Field(ge=400, le=599, description="the HTTP status, repeated")
    code: str = Field(description="stable: the codes each operation may answer are listed")
    detail: str
    instance: str = Field(description="the request's path (a download link's token redacted)")
    request_id: str | None = Field(description="the `X-Request-ID` of the request, for logs")
    errors: list[FieldError] | None = Field(
        default=None, description="the fields at fault, when a request does not validate"
    )

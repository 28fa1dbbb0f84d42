"""The export task: run in a worker's child, it streams rows from the source through a
writer into storage; its settle hook records the outcome on the export row in the same
transaction as the job's.

Everything the child needs (database, storage, sources) is built once per process from
the settings the supervisor hands its children (:func:`use_settings`, a child set-up);
the settle hook gets the supervisor's own through the worker's context.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection, Row

from exportd import tracing
from exportd.clock import Clock, SystemClock
from exportd.config import Settings
from exportd.db import Database, create_database
from exportd.documents.export import render_export
from exportd.documents.render import Renderer
from exportd.errors import (
    ExportdError,
    JobCancelled,
    RetryableJobError,
    TerminalJobError,
    classify,
)
from exportd.exports.counting import RowCount
from exportd.exports.models import PlanLimits
from exportd.exports.outputs import Layout, Signer, artifact_key, open_output
from exportd.exports.skipping import SKIPPED_RESULT, has_no_rows
from exportd.exports.split_writer import Split, too_many_parts
from exportd.exports.start import Start, read_start
from exportd.formats import FORMATS, OutputColumn, WriteOptions, to_zone
from exportd.manifest_keys import SigningKey
from exportd.manifest_keys import for_settings as manifest_signing_key
from exportd.queue.tasks import JobContext
from exportd.sources import DocumentSource, SourceRegistry, TabularSource
from exportd.sources.base import Source
from exportd.sources.connections import DataConnection, DataConnections
from exportd.sources.loading import load_sources
from exportd.sources.prefetch import prefetched
from exportd.sources.query import ARROW_FETCH_OPTION
from exportd.storage import Storage, storage_for

EXPORT_TASK = "exportd.export"


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    db: Database
    storage: Storage
    sources: SourceRegistry
    renderer: Renderer
    connections: DataConnections
    clock: Clock
    signing_key: SigningKey  # of split exports' manifests


_settings: list[Settings] = []  # the child's, given at its set-up


def use_settings(settings: Settings) -> None:
    """A child set-up: the settings the child's runtime is built from (at first use)."""
    _settings[:] = [settings]
    runtime.cache_clear()


@cache
def runtime() -> Runtime:
    if not _settings:
        raise RuntimeError("the export task runs in a worker's child, set up with its settings")
    settings = _settings[0]
    return Runtime(
        settings=settings,
        db=create_database(settings),
        storage=storage_for(settings),
        sources=load_sources(settings.source_modules, settings.sql_sources, settings.connections),
        renderer=Renderer.from_settings(settings),
        # Opened at a source's first export from each (sources/connections.py).
        connections=DataConnections(settings.connections),
        clock=SystemClock(),
        signing_key=manifest_signing_key(settings),
    )


def run_export(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    rt = runtime()
    start = _start(ctx, rt, payload["export_id"])
    export, plan = start.export, start.plan
    attributes = {"exportd.export.id": export.id, "exportd.source": export.source}
    tracing.annotate(attributes | {"exportd.format": export.format})
    source = rt.sources.get(export.source)
    if source is None:
        raise TerminalJobError(f"no source {export.source!r} in this worker", code="source_unknown")
    try:
        params = source.params_model.model_validate(export.params)
    except ValidationError as exc:
        # The source changed since the export was accepted: say what no longer fits.
        fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
        raise TerminalJobError(
            f"params no longer validate: {fields}", code="params_invalid"
        ) from None
    if source.kind == "document":
        if not isinstance(source, DocumentSource):
            raise TerminalJobError(
                f"{export.source!r} is not a document source", code="source_unknown"
            )
        return _store_document(ctx, rt, start, source, params)
    if not isinstance(source, TabularSource):
        raise TerminalJobError(f"{export.source!r} is not a tabular source", code="source_unknown")
    reads = rt.connections.get(source.connection) if source.connection else rt.db
    if export.skip_if_empty and has_no_rows(reads, source, export.owner_id, params):
        return dict(SKIPPED_RESULT)
    columns = _output_columns(export, source)
    fmt = FORMATS[export.format]
    options = WriteOptions.of(export.options)
    names = [c.name for c in columns]
    failure: Exception | None = None
    # Counted while the rows are read (exports/counting.py), unless the writer needs it first.
    alongside = not fmt.counted_first and not reads.is_in_memory
    signer = Signer(key=rt.signing_key, max_parts=rt.settings.split_max_parts, clock=rt.clock)
    with (
        rt.db.read() as conn,
        _source_connection(rt, source, conn) as rows_conn,
        open_output(rt.storage, export, ctx.attempt, options, signer) as output,
        RowCount(
            _count_on_own_connection(reads, source, export.owner_id, params)
            if alongside
            else lambda: source.count(rows_conn, export.owner_id, params),
            alongside=alongside,
        ) as counted,
    ):
        rows_conn.execution_options(**{ARROW_FETCH_OPTION: rt.settings.arrow_fetch})
        total = counted.known()
        _refuse_early(total, plan, options, signer.max_parts)
        ctx.checkpoint(rows_done=0, rows_total=total)
        # A cancel is heard between batches (the loop's checkpoint), while a batch is
        # awaited (prefetch) and within a writer's long steps (locale, XLSX zipping).
        layout = Layout(
            columns=columns,
            schema=to_zone(source.arrow_schema(names), options.timezone),
            rows_expected=total,
            rows_allowed=plan.max_rows,
            title=source.title,
            checkpoint=ctx.checkpoint,
        )
        writer = output.writer(layout, counted.known)
        batch_rows = rt.settings.export_batch_rows
        fetched = _translated(
            rt,
            source,
            source.batches(rows_conn, export.owner_id, params, names, batch_size=batch_rows),
        )
        done = 0
        try:
            # The next batches are read while this one is written (sources/prefetch.py).
            with prefetched(fetched, on_wait=ctx.checkpoint) as batches:
                for batch in batches:
                    ctx.checkpoint()  # asked to stop while it was read: it is never written
                    if done or batch.num_rows >= batch_rows:  # more may follow: count them
                        counted.start()
                    if done + batch.num_rows > plan.max_rows:
                        room = plan.max_rows - done
                        if options.keep_partial and room:  # the rows the plan allows
                            writer.write(to_zone(batch.slice(0, room), options.timezone))
                            done += room
                        raise _row_limit(plan.name, plan.max_rows)
                    writer.write(to_zone(batch, options.timezone))
                    done += batch.num_rows
                    if total is None and (total := counted.known()) is not None:
                        _refuse_early(total, plan, options, signer.max_parts)
                    ctx.checkpoint(rows_done=done, rows_total=total)
            writer.close()
            total = done  # every row was read
        except JobCancelled:
            writer.abort()
            raise
        except Exception as exc:
            if not (done and options.keep_partial):
                # Never a silent truncation: the file is discarded and the error says so.
                writer.abort()
                raise after_rows(exc, done) from exc
            failure = _kept_partial(exc, done)
            # A complete file of the rows written (footer, closing bracket).  A writer
            # whose close is stopped (a cancel) releases what it holds itself.
            writer.close()
        # Still inside the output: raising here discards the file (or parts) unseen.
        start.check_file(conn, output.stored_bytes, rt.clock.now())
        # The last word before the file is kept: a cancel asked for while the file was
        # being finished ends the export here, and the file is never stored.
        ctx.checkpoint(rows_done=done, rows_total=total)
    result = {**output.result(), "row_count": done}
    # Only the XLSX writer can have to shorten a cell (Excel's limit): say so if it did.
    if getattr(writer, "cells_cut", 0):
        result["cells_cut"] = writer.cells_cut  # type: ignore[attr-defined]
    if failure is not None:
        assert isinstance(failure, ExportdError)
        failure.result = {**result, "partial": True}
        raise failure
    return result


def _start(ctx: JobContext, rt: Runtime, export_id: str) -> Start:
    """The export, its plan and its owner's usage: as the supervisor read them while it
    claimed the job (exports/start.py), else read now."""
    note = ctx.claim_note
    if isinstance(note, Start) and note.export.id == export_id:
        return note
    with rt.db.read_one() as conn:  # one statement
        return read_start(conn, export_id, rt.clock.now())


def _store_document(
    ctx: JobContext, rt: Runtime, start: Start, source: DocumentSource, params: BaseModel
) -> dict[str, Any]:
    export, plan = start.export, start.plan
    ctx.checkpoint(rows_done=0, rows_total=1)
    with rt.db.read() as conn:
        content = source.document(conn, export.owner_id, params)
        changed = source.document_date(conn, export.owner_id, params)
    # Rendering is one step that cannot be interrupted (a browser, a Typst compile):
    # a cancel is heard before it and after it, never stored.
    ctx.checkpoint()
    rendered = render_export(
        export,
        plan,
        content,
        rt.renderer,
        page_size=getattr(params, "page_size", None),
        max_pages=rt.settings.document_max_pages,
        changed=changed,
    )
    key = artifact_key(export.owner_id, export.id, ctx.attempt, rendered.filename)
    with rt.db.read() as conn, rt.storage.writer(key) as sink:
        sink.write(rendered.data)
        start.check_file(conn, len(rendered.data), rt.clock.now())
        # Inside the storage writer: a cancel heard here discards the file unseen.
        ctx.checkpoint(rows_done=1, rows_total=1)
    return {
        "key": key,
        "filename": rendered.filename,
        "content_type": rendered.content_type,
        "size": len(rendered.data),
        "sha256": hashlib.sha256(rendered.data).hexdigest(),
        "row_count": 1,
        "template": rendered.template,
        "template_version": rendered.template_version,
    }


# Files people read get the source's labels ("P&L") as headers; files programs read
# (JSON, JSON Lines, Parquet) keep the column names as keys, which never change with
# wording. A rename in the request wins in every format.
LABELLED_FORMATS = ("csv", "xlsx")


def _output_columns(export: Row[Any], source: TabularSource) -> list[OutputColumn]:
    declared = {c.name: c.label for c in source.columns}
    chosen = export.columns or [{"name": c.name} for c in source.columns]
    missing = [c["name"] for c in chosen if c["name"] not in declared]
    if missing:
        raise TerminalJobError(f"columns no longer exist: {missing}", code="column_unknown")
    labelled = export.format in LABELLED_FORMATS
    return [
        OutputColumn(c["name"], c.get("label") or (declared[c["name"]] if labelled else c["name"]))
        for c in chosen
    ]


def after_rows(exc: Exception, written: int) -> Exception:
    """The failure, saying how many rows were written before it (when some were)."""
    if not written:
        return exc
    return _restated(exc, f"after {written:,} rows were written; the file was discarded")


def _kept_partial(exc: Exception, written: int) -> Exception:
    """The failure of an export that asked to keep its partial file."""
    return _restated(exc, f"after {written:,} rows; the file of those rows was kept")


def _restated(exc: Exception, what_happened: str) -> Exception:
    """The same failure (code, retryable or not) with what became of the file."""
    info = classify(exc)
    kind = RetryableJobError if info.retryable else TerminalJobError
    failure = kind(f"{info.message} ({what_happened})", code=info.code)
    return failure.with_traceback(exc.__traceback__)


@contextmanager
def _source_connection(rt: Runtime, source: Source, own: Connection) -> Iterator[Connection]:
    """Where the source's rows are read: its named connection (a snapshot transaction
    of its own), or exportd's database on the export's connection."""
    if source.connection is None:
        yield own
        return
    with rt.connections.get(source.connection).read() as conn:
        yield conn


def _translated(
    rt: Runtime, source: Source, batches: Iterator[pa.RecordBatch]
) -> Iterator[pa.RecordBatch]:
    """A named connection's statement timeout as its own error, its password masked."""
    if source.connection is None:
        yield from batches
        return
    connection = rt.connections.get(source.connection)
    try:
        yield from batches
    except Exception as exc:
        raise connection.translated(exc) from exc


def _count_on_own_connection(
    db: Database | DataConnection, source: TabularSource, owner_id: str, params: BaseModel
) -> Callable[[], int | None]:
    def count() -> int | None:
        with db.read() as conn:
            return source.count(conn, owner_id, params)

    return count


def _refuse_early(
    total: int | None, plan: PlanLimits, options: WriteOptions, max_parts: int
) -> None:
    """Over the plan's rows, or over the parts a split may make, by the count: refused
    now rather than at the limit, unless the rows up to it are wanted (keep_partial)."""
    if total is not None and total > plan.max_rows and not options.keep_partial:
        raise _row_limit(plan.name, plan.max_rows)
    if total is not None and options.split:
        split = Split.of(options.split)
        if split.parts_for(total) > max_parts:
            raise too_many_parts(split.parts_for(total), max_parts, split, total)


def _row_limit(plan: str, limit: int) -> TerminalJobError:
    return TerminalJobError(
        f"the {plan} plan allows {limit} rows per export; narrow the filters",
        code="row_limit_exceeded",
    )

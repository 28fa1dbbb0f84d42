"""/v1/exports: create, list, read (with ETag), cancel, cancel or delete, retry, dead letters."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Header, Query, Request, Response, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from exportd.api.deps import Exports, ReadExports, RequestId, WriteExports
from exportd.api.long_poll import Current, hold_while_unchanged, preferred_wait
from exportd.api.routers import api_router
from exportd.api.schemas import BatchCreate, BatchOut, ExportCreate, ExportOut, ExportPage
from exportd.exports.models import ExportStatus, ExportView

router = api_router(prefix="/v1/exports", tags=["exports"])


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=ExportOut)
def create_export(
    body: ExportCreate,
    principal: WriteExports,
    exports: Exports,
    request_id: RequestId,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> ExportOut:
    """Queue an export. Replaying an ``Idempotency-Key`` returns the same export (200)."""
    view, created = exports.create(
        principal, body.to_domain(), idempotency_key=idempotency_key, correlation_id=request_id
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/v1/exports/{view.id}"
    out = ExportOut.of(view)
    # The body is the export as GET shows it, with its ETag: a client long-polls at once.
    response.headers["Content-Location"] = response.headers["Location"]
    response.headers["ETag"] = etag_of(out.model_dump_json().encode())
    return out


def etag_of(body: bytes) -> str:
    """An export's ETag: weak, as its JSON may be spaced otherwise in another answer."""
    return f'W/"{hashlib.sha256(body).hexdigest()[:32]}"'


@router.post("/batch", status_code=status.HTTP_202_ACCEPTED, response_model=BatchOut)
def create_export_batch(
    body: BatchCreate, principal: WriteExports, exports: Exports, request_id: RequestId
) -> BatchOut:
    """Queue up to the plan's batch size in one call: all of them or none."""
    views = exports.create_batch(
        principal, [item.to_domain() for item in body.items], correlation_id=request_id
    )
    return BatchOut(items=[ExportOut.of(v) for v in views])


@router.get("", response_model=ExportPage)
def list_exports(
    principal: ReadExports,
    exports: Exports,
    status_: Annotated[ExportStatus | None, Query(alias="status")] = None,
    source: Annotated[str | None, Query(max_length=64)] = None,
    format_: Annotated[str | None, Query(alias="format", max_length=16)] = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    id_prefix: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=32,
            pattern="^[0-9a-f]+$",
            description="ids starting with these lowercase hex digits (a short id)",
        ),
    ] = None,
    schedule_id: Annotated[
        str | None, Query(max_length=32, description="the runs of this schedule")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    stats: bool = False,
) -> ExportPage:
    """The caller's exports, newest first; ``cursor`` from ``next_cursor`` pages on."""
    page = exports.list_exports(
        principal,
        status=status_,
        source=source,
        format=format_,
        created_from=created_from,
        created_to=created_to,
        id_prefix=id_prefix,
        schedule_id=schedule_id,
        limit=limit,
        cursor=cursor,
        with_stats=stats,
    )
    return ExportPage(
        items=[ExportOut.of(v) for v in page.items], next_cursor=page.next_cursor, stats=page.stats
    )


@router.get("/failed", response_model=list[ExportOut])
def list_failed_exports(
    principal: ReadExports,
    exports: Exports,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[ExportOut]:
    """The dead letter: failed exports (the caller's; an admin's: everyone's)."""
    return [ExportOut.of(v) for v in exports.failed(principal, limit=limit)]


@router.get("/{export_id}", response_model=ExportOut, responses={304: {"description": "unchanged"}})
async def get_export(
    export_id: str,
    principal: ReadExports,
    exports: Exports,
    request: Request,
    prefer: Annotated[
        str | None,
        Header(
            max_length=256,
            description="`wait=N` with a current `If-None-Match`: hold the answer up to N "
            "seconds (at most `EXPORTD_LONG_POLL_MAX_S`) until the export changes",
        ),
    ] = None,
    until: Annotated[
        Literal["change", "final"],
        Query(
            description="with `Prefer: wait=N`, what ends the wait: the next `change` "
            "(with a current `If-None-Match`), or the export being `final` (completed, "
            "skipped, failed, cancelled or expired), through any changes before",
        ),
    ] = "change",
) -> Response:
    """Status, progress, error and result. Send ``If-None-Match`` to poll cheaply, and
    ``Prefer: wait=N`` with it to hear of the next change as it happens (a long poll);
    add ``until=final`` to hear only of the outcome."""

    async def read(row: Any | None = None) -> Current:
        # A row a long poll's wait read, or a cached one, is answered here; only a
        # database read needs a thread.
        if row is not None:
            view: ExportView | None = exports.view_of_row(principal, export_id, row)
        else:
            view = exports.cached(principal, export_id)
        if view is None:
            view = await run_in_threadpool(exports.fetch, principal, export_id)
        body = ExportOut.of(view).model_dump_json().encode()
        return Current(body, etag_of(body), view.updated_at, not view.status.is_active)

    current = await read()
    headers = {}
    wait_s = preferred_wait(prefer, max_s=request.app.state.settings.long_poll_max_s)
    if wait_s:
        waits = request.app.state.export_waits
        current = await hold_while_unchanged(
            request, waits, export_id, current, read, wait_s, until_final=until == "final"
        )
        headers["Preference-Applied"] = f"wait={wait_s:g}"
    headers["ETag"] = current.etag
    if current.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(current.body, media_type="application/json", headers=headers)


@router.delete(
    "/{export_id}",
    response_model=ExportOut,
    responses={
        202: {"description": "a running export is stopping", "model": ExportOut},
        204: {"description": "the finished export was deleted"},
    },
)
def delete_export(export_id: str, principal: WriteExports, exports: Exports) -> Response:
    """Cancel an active export (202 while it stops), or delete a finished one (204)."""
    view = exports.cancel(principal, export_id)
    if view is None:
        return Response(status_code=204)
    code = 202 if view.status.is_active else 200
    return JSONResponse(ExportOut.of(view).model_dump(mode="json"), status_code=code)


@router.post("/{export_id}/cancel", status_code=status.HTTP_202_ACCEPTED, response_model=ExportOut)
def cancel_export(export_id: str, principal: WriteExports, exports: Exports) -> ExportOut:
    """Cancel a queued or running export (202; a running one stops within a batch).
    Never deletes: an export already final is a 409 ``export_not_active``."""
    return ExportOut.of(exports.cancel_active(principal, export_id))


@router.post("/{export_id}/retry", status_code=status.HTTP_202_ACCEPTED, response_model=ExportOut)
def retry_export(export_id: str, principal: WriteExports, exports: Exports) -> ExportOut:
    """Queue a failed export again (owner or admin; once per cooldown)."""
    return ExportOut.of(exports.retry(principal, export_id))

"""Operators' reports (``ops:read`` or admin): counters and timings from the event log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request

from exportd.api.deps import ReadOps
from exportd.api.ops_schemas import ExportOps, Perf
from exportd.api.routers import api_router
from exportd.ops.reports import Reports

router = api_router(prefix="/v1/ops", tags=["ops"])

Hours = Annotated[float, Query(gt=0, le=24 * 90, description="the window, in hours")]


def _reports(request: Request) -> Reports:
    reports: Reports = request.app.state.reports
    return reports


@router.get("/export-ops", response_model=ExportOps)
def get_export_ops(_reader: ReadOps, request: Request, hours: Hours = 24) -> dict[str, Any]:
    """pdfProcessed, pdfFailed, emailSent, emailFailed, cleanupCompleted, cleanupFailed and
    more over the window, in total and per source and format; the same on every node."""
    return _reports(request).export_ops(hours=hours)


@router.get("/perf", response_model=Perf)
def get_perf(_reader: ReadOps, request: Request, hours: Hours = 24) -> dict[str, Any]:
    """p50, p95 and max of queue wait (ms), run time (ms) and file size (bytes) per source
    and format, over completed exports in the window."""
    return _reports(request).perf(hours=hours)

"""The FastAPI application factory: settings in, app out; nothing built at import time."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from exportd import tracing, web
from exportd.api import docs, openapi, problems, text_guard
from exportd.api.body_limit import BodyLimitMiddleware
from exportd.api.cors import CorsMiddleware
from exportd.api.long_poll import ExportWaits
from exportd.api.request_id import RequestIdMiddleware
from exportd.api.routers import add_routes, route_options
from exportd.api.routes import (
    admin,
    catalogue,
    console,
    deliveries,
    destinations,
    documents,
    downloads,
    events,
    exports,
    files,
    ops,
    queues,
    schedules,
)
from exportd.api.schemas import Health, Readiness
from exportd.api.security_headers import SecurityHeadersMiddleware
from exportd.api.tracing import TracingMiddleware
from exportd.auth.api_keys import ApiKeys
from exportd.auth.page_sessions import PageSessions
from exportd.auth.tokens import TokenVerifier
from exportd.clock import Clock
from exportd.config import Settings, hs256_key
from exportd.db import Database, create_database
from exportd.db.migrate import is_at_head
from exportd.delivery.service import DeliveryService
from exportd.destinations.service import DestinationService
from exportd.documents.preview import Previews
from exportd.documents.service import DocumentService
from exportd.errors import StorageError
from exportd.exports.changes import changes_for
from exportd.exports.downloads import Downloads
from exportd.exports.plan_book import PlanBook
from exportd.exports.read_model import version_of
from exportd.exports.row_cache import RowCache
from exportd.exports.service import ExportService
from exportd.manifest_keys import key_set
from exportd.manifest_keys import published as published_manifest_keys
from exportd.ops import metrics
from exportd.ops.cleanup import Cleanup
from exportd.ops.console import Console
from exportd.ops.dead_letters import DeadLetters
from exportd.ops.queues import QueueOps
from exportd.ops.reports import Reports
from exportd.queue import JobStore
from exportd.queue.control import QueueControl
from exportd.schedules.service import ScheduleService
from exportd.sources import SourceRegistry
from exportd.sources.connections import DataConnections
from exportd.sources.loading import load_sources
from exportd.storage import storage_for

PROMETHEUS_TEXT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Prometheus text format",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
}
NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {"description": "a check failed: it says why", "model": Readiness}
}
# FastAPI 0.16x traces requests itself through a global OpenTelemetry provider (one that
# `opentelemetry-instrument` installs, say), with the raw path and query in the span:
# a download link's token.  Off: exportd's own span (api/tracing.py) records the route.
NATIVE_TELEMETRY_OFF: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False, "auto_configure": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}
)


def create_app(
    settings: Settings,
    *,
    db: Database | None = None,
    sources: SourceRegistry | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    tracing.configure(settings)
    database = db or create_database(settings)
    registry = (
        sources
        if sources is not None
        else load_sources(settings.source_modules, settings.sql_sources, settings.connections)
    )
    # Opened at the first /readyz that checks them (sources/connections.py).
    data_connections = DataConnections(settings.connections)

    row_cache = RowCache(max_rows=settings.poll_cache_rows)
    changes = changes_for(database, row_cache) if settings.poll_cache_rows else None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if changes is not None:
            changes.start()
        yield
        await _app.state.export_waits.aclose()
        _app.state.previews.close()
        if changes is not None:
            changes.stop()
        if db is None:
            database.dispose()
        data_connections.dispose()

    app = FastAPI(
        **openapi.app_metadata(settings),
        **route_options(),  # its own routes as the routers' (/healthz, /metrics, docs)
        lifespan=lifespan,
        docs_url=None,  # FastAPI's pages load from a CDN: ours are served from files (docs.py)
        redoc_url=None,
        **NATIVE_TELEMETRY_OFF,
    )
    app.state.settings = settings
    app.state.db = database
    app.state.sources = registry
    store = JobStore.from_settings(settings, clock=clock)
    app.state.exports = ExportService(
        db=database,
        store=store,
        sources=registry,
        settings=settings,
        clock=clock,
        row_cache=row_cache,
    )
    app.state.export_waits = ExportWaits(
        rows=app.state.exports.rows,
        version_of=version_of,
        check_every_s=settings.events_poll_interval_s,
        poll_feed=lambda: row_cache.before_get,  # set while SQLite's feed runs
        feed_bell=lambda: getattr(changes, "bell", None),  # SQLite's feed's doorbell
    )
    row_cache.on_change = app.state.export_waits.something_changed
    storage = storage_for(settings)
    app.state.cleanup = Cleanup(
        db=database,
        storage=storage,
        batch_size=settings.cleanup_batch_size,
        orphan_grace_s=settings.cleanup_orphan_grace_s,
        clock=clock,
    )
    app.state.downloads = Downloads(
        db=database,
        exports_service=app.state.exports,
        storage=storage,
        secret_key=settings.secret_key.get_secret_value(),
        token_ttl_s=settings.download_token_ttl_s,
        link_ttl_s=settings.s3_link_ttl_s,
        clock=clock,
    )
    app.state.deliveries = DeliveryService(
        db=database,
        store=store,
        attempts=settings.delivery_attempts,
        retry_cooldown_s=settings.delivery_retry_cooldown_s,
        clock=clock,
    )
    app.state.schedules = ScheduleService(
        db=database, exports=app.state.exports, settings=settings, clock=clock
    )
    app.state.manifest_keys = key_set(*published_manifest_keys(settings))
    app.state.destinations = DestinationService.from_settings(settings, db=database, clock=clock)
    app.state.reports = Reports(db=database, clock=app.state.exports.clock)
    app.state.queues = QueueOps(database, QueueControl(clock=clock))
    app.state.plans = PlanBook(database)
    app.state.console = Console(
        db=database, lease_s=settings.job_lease_s, clock=app.state.exports.clock
    )
    app.state.dead_letters = DeadLetters(
        db=database,
        exports_service=app.state.exports,
        deliveries_service=app.state.deliveries,
        clock=app.state.exports.clock,
    )
    app.state.previews = Previews.from_settings(settings)
    app.state.api_keys = ApiKeys(database, clock=clock)
    app.state.page_sessions = PageSessions(database, ttl_s=settings.page_session_ttl_s, clock=clock)
    app.state.tokens = TokenVerifier(secret=hs256_key(settings), jwks_url=settings.jwks_url)
    app.state.documents = DocumentService(
        db=database, store=store, max_sections=settings.max_document_sections, clock=clock
    )
    problems.install(app)
    text_guard.install(app)  # innermost: it sees only bodies the size limit let through
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes)
    app.add_middleware(RequestIdMiddleware)
    if settings.cors_origins:  # answers preflights, so outside the body and text guards
        app.add_middleware(CorsMiddleware, origins=settings.cors_origins)
    app.add_middleware(SecurityHeadersMiddleware)  # every answer gets them
    if settings.otel_enabled:
        app.add_middleware(TracingMiddleware)  # outermost: the span sees the final status
    add_routes(
        app,
        exports.router,
        catalogue.router,
        documents.router,
        admin.router,
        downloads.router,
        files.router,
        events.router,
        deliveries.router,
        schedules.router,
        destinations.router,
        ops.router,
        queues.router,
        console.router,
    )
    web.install(app)
    docs.install(app)

    @app.get("/metrics", tags=["ops"], response_class=Response, responses=PROMETHEUS_TEXT)
    def get_metrics() -> Response:
        """Prometheus text format: this node's counters and the queue's gauges."""
        body, content_type = metrics.exposition(database, store)
        return Response(body, headers={"Content-Type": content_type})

    @app.get("/healthz", tags=["ops"], response_model=Health)
    def get_health() -> Health:
        """The process is alive."""
        return Health(status="ok")

    @app.get("/readyz", tags=["ops"], response_model=Readiness, responses=NOT_READY)
    def get_readiness() -> JSONResponse:
        """The database answers, its schema is at the latest migration, storage is writable.
        Each named data connection is reported under ``connections`` (``ok`` or why not);
        one that is down does not make exportd unready: only its sources' exports wait."""
        checks: dict[str, str] = {}
        try:
            with database.read() as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
            checks["migrations"] = "ok" if is_at_head(database) else "behind"
        except SQLAlchemyError as exc:
            checks["database"] = f"unavailable: {type(exc).__name__}"
        try:
            storage.probe()
            checks["storage"] = "ok"
        except StorageError as exc:
            checks["storage"] = f"unavailable: {exc.message}"
        ready = all(value == "ok" for value in checks.values())
        body = {
            "status": "ready" if ready else "not ready",
            "checks": checks,
            "connections": data_connections.check_all(),
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    openapi.install(app)
    return app


def app_from_environment() -> FastAPI:
    """The factory uvicorn calls in each server process (``exportd serve``)."""
    from exportd.config import load_settings
    from exportd.logs import configure_logging

    settings = load_settings()
    configure_logging(settings)
    return create_app(settings)

"""The FastAPI application factory: settings in, app out; nothing built at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

import exportd
from exportd.config import Settings
from exportd.db import Database, create_database
from exportd.db.migrate import is_at_head


def create_app(settings: Settings, *, db: Database | None = None) -> FastAPI:
    database = db or create_database(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if db is None:
            database.dispose()

    app = FastAPI(title="exportd", version=exportd.__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.db = database

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    def readyz() -> JSONResponse:
        """The database answers and its schema is at the latest migration."""
        checks: dict[str, str] = {}
        try:
            with database.read() as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
            checks["migrations"] = "ok" if is_at_head(database) else "behind"
        except SQLAlchemyError as exc:
            checks["database"] = f"unavailable: {type(exc).__name__}"
        ready = all(value == "ok" for value in checks.values())
        body = {"status": "ready" if ready else "not ready", "checks": checks}
        return JSONResponse(body, status_code=200 if ready else 503)

    return app

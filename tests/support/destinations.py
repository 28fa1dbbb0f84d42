"""A world for destination tests: the real app with the demo's trades, a worker run in
the test process (``inline_worker``), the customer's S3 server and an SFTP server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from exportd.api.app import create_app
from exportd.config import Settings
from exportd.db import Database
from exportd.demo.sources import demo_sources
from exportd.demo.tables import create_demo_tables, seed_trades
from exportd.destinations.port import Reach
from exportd.queue import JobStore
from exportd.sources import SourceRegistry
from tests.support.api import Api
from tests.support.inline_worker import work_off

DEMO_SOURCES = ["exportd.demo.sources:demo_sources"]


@dataclass
class World:
    api: Api
    settings: Settings
    db: Database
    store: JobStore

    def headers(self, user: str = "bob", **kw: Any) -> dict[str, str]:
        return self.api.as_user(user, plan="pro", **kw)

    def destination(
        self, kind: str, config: dict[str, Any], secret: dict[str, Any], **kw: Any
    ) -> str:
        body = {
            "kind": kind,
            "name": kw.pop("name", f"{kind} {time.monotonic_ns()}"),
            "config": config,
            "secret": secret,
        }
        answer = self.api.client.post("/v1/destinations", json=body, headers=self.headers(**kw))
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    def export(self, *destinations: str, fmt: str = "csv", user: str = "bob", **extra: Any) -> str:
        body = {
            "source": "trades",
            "format": fmt,
            "params": {},
            "destinations": list(destinations),
            **extra,
        }
        answer = self.api.client.post("/v1/exports", json=body, headers=self.headers(user))
        assert answer.status_code == 202, answer.text
        return str(answer.json()["id"])

    def get(self, export_id: str, user: str = "bob") -> dict[str, Any]:
        answer = self.api.client.get(f"/v1/exports/{export_id}", headers=self.headers(user))
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def refuse_private(self) -> None:
        """The API and the worker as production has them: private addresses refused."""
        service = self.api.client.app.state.destinations  # type: ignore[attr-defined]
        service.reach = Reach(allow_private=False, timeout_s=5.0)
        self.settings = self.settings.model_copy(update={"destination_allow_private": False})

    def run(self) -> int:
        """Every job the queue has ready, run here, until none is left."""
        return work_off(self.settings, self.db, self.store)


def world_settings(settings: Settings, tmp_path: Path, **changes: Any) -> Settings:
    return settings.model_copy(
        update={
            "storage_url": f"file://{tmp_path / 'exports'}",
            "source_modules": DEMO_SOURCES,
            "destination_allow_private": True,  # the customer's servers are on loopback
            "destination_timeout_s": 5.0,
            "delivery_attempts": 2,
            "job_backoff_ms": 0,
            "delivery_retry_cooldown_s": 0,
            # Exports run in this process (inline_worker): rows through SQLAlchemy only, so
            # no second SQLite library (ADBC's) maps the same database file here.
            "arrow_fetch": False,
            **changes,
        }
    )


@contextmanager
def open_world(settings: Settings, db: Database, tmp_path: Path) -> Iterator[World]:
    """The world on a migrated database (each test module's ``world`` fixture)."""
    with db.write() as conn:
        create_demo_tables(conn)
        seed_trades(conn, "bob", 120)
    configured = world_settings(settings, tmp_path)
    store = JobStore.from_settings(configured)
    app = create_app(configured, db=db, sources=SourceRegistry(demo_sources()))
    with TestClient(app) as client:
        yield World(Api(client, configured), configured, db, store)

"""An app with real storage and a controllable clock, and completed exports in it
(claimed, a file written, settled and recorded as a worker would)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from exportd.api.app import create_app
from exportd.auth.principal import Principal
from exportd.clock import ManualClock
from exportd.config import Settings
from exportd.db import Database
from exportd.exports.lifecycle import record_outcome
from exportd.exports.models import ExportRequest
from exportd.exports.service import ExportService
from exportd.queue.app import WorkerContext
from exportd.queue.models import Claimed, Outcome
from exportd.storage.local import LocalStorage
from tests.support.api import Api
from tests.support.sources import fake_sources

CONTENT = "opened,symbol\n2026-01-01,ÅAPL\n".encode()


@dataclass
class World:
    api: Api
    clock: ManualClock
    db: Database
    storage: LocalStorage


@contextmanager
def world_for(
    settings: Settings, db: Database, tmp_path: Path, **overrides: object
) -> Iterator[World]:
    config = settings.model_copy(
        update={
            "storage_url": f"file://{tmp_path / 'files'}",
            "download_token_ttl_s": 60,
            **overrides,
        }
    )
    # User tokens (PyJWT) expire by the real time: start the clock from now.
    clock = ManualClock(datetime.now(UTC))
    app = create_app(config, db=db, sources=fake_sources(), clock=clock)
    with TestClient(app) as client:
        yield World(Api(client, config), clock, db, LocalStorage(tmp_path / "files"))


def completed_export(world: World, owner: str = "alice", filename: str = "trades-ü.csv") -> str:
    service = world.api.client.app.state.exports  # type: ignore[attr-defined]
    view, _ = service.create(
        Principal(owner, "free"), ExportRequest(source="trades", format="csv", params={})
    )
    with world.db.write() as conn:
        [job] = service.store.claim(conn, worker_id="w", queues=["default"], limit=1)
    key = f"{owner}/{view.id}/1/{filename}"
    with world.storage.writer(key) as handle:
        handle.write(CONTENT)
    result = {
        "key": key,
        "filename": filename,
        "content_type": "text/csv; charset=utf-8",
        "size": len(CONTENT),
        "sha256": "x",
        "row_count": 1,
    }
    with world.db.write() as conn:
        settled = service.store.settle(
            conn, Outcome(claim=Claimed(job.id, job.attempt), result=result)
        )
        record_outcome(conn, settled, worker_of(service))
    return str(view.id)


def worker_of(service: ExportService) -> WorkerContext:
    """What a worker's settle hook would be given: the service's settings, queue and clock."""
    return WorkerContext(settings=service.settings, db=service.db, store=service.store)

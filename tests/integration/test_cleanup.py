"""Cleanup of expired and orphan files, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from exportd.config import Settings
from exportd.db import Database
from exportd.db.tables import exports
from exportd.ops.cleanup import Cleanup
from tests.support.artifacts import World, completed_export, world_for

RETENTION_S = 7 * 86_400


@pytest.fixture
def world(settings: Settings, db: Database, tmp_path: Path) -> Iterator[World]:
    with world_for(settings, db, tmp_path, cleanup_orphan_grace_s=3600) as w:
        yield w


def cleanup(world: World) -> Cleanup:
    job: Cleanup = world.api.client.app.state.cleanup  # type: ignore[attr-defined]
    return job


def stored_files(world: World) -> set[str]:
    return {
        p.relative_to(world.storage.root).as_posix()
        for p in world.storage.root.rglob("*")
        if p.is_file()
    }


def status(world: World, export_id: str) -> str:
    response = world.api.client.get(f"/v1/exports/{export_id}", headers=world.api.as_user("alice"))
    return str(response.json()["status"])


def test_expired_files_go_after_a_dry_run_shows_them(world: World) -> None:
    old, young = completed_export(world), completed_export(world)
    world.clock.advance(RETENTION_S + 5)
    with world.db.write() as conn:
        conn.execute(
            update(exports)
            .where(exports.c.id == young)
            .values(expires_at=world.clock.now() + timedelta(days=1))
        )
    dry = cleanup(world).run(dry_run=True)
    assert dry.expired == [old]
    assert len(stored_files(world)) == 2  # nothing removed
    done = cleanup(world).run(dry_run=False)
    assert done.expired == [old]
    assert [young in f for f in stored_files(world)] == [True]
    assert status(world, old) == "expired"
    assert status(world, young) == "completed"
    assert cleanup(world).run(dry_run=False).expired == []  # idempotent


def test_a_failed_deletion_stays_for_the_next_run(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    export_id = completed_export(world)
    world.clock.advance(RETENTION_S + 5)

    def broken(key: str) -> None:
        raise PermissionError("read-only file system")

    monkeypatch.setattr(world.storage, "delete", broken)
    job = cleanup(world)
    monkeypatch.setattr(job.storage, "delete", broken)
    report = job.run(dry_run=False)
    assert report.failed == [export_id]
    monkeypatch.undo()
    assert cleanup(world).run(dry_run=False).expired == [export_id]
    assert stored_files(world) == set()


def test_a_missing_file_is_fine(world: World) -> None:
    export_id = completed_export(world)
    for path in list(world.storage.root.rglob("*")):
        if path.is_file():
            path.unlink()
    world.clock.advance(RETENTION_S + 5)
    assert cleanup(world).run(dry_run=False).expired == [export_id]


def test_deleted_exports_lose_their_files(world: World) -> None:
    export_id = completed_export(world)
    headers = world.api.as_user("alice")
    assert world.api.client.delete(f"/v1/exports/{export_id}", headers=headers).status_code == 204
    assert cleanup(world).run(dry_run=False).expired == [export_id]
    assert stored_files(world) == set()


def test_orphans_go_once_old_enough(world: World) -> None:
    live = completed_export(world)
    root = world.storage.root
    (root / "alice" / "zombie").mkdir(parents=True)
    old_orphan = root / "alice" / "zombie" / "losing-attempt.csv"
    old_orphan.write_text("x")
    young_orphan = root / "alice" / "zombie" / "in-flight.csv.part"
    young_orphan.write_text("x")
    long_ago = time.time() - 7200
    os.utime(old_orphan, (long_ago, long_ago))
    for path in root.rglob("*.csv"):
        if live in str(path):
            os.utime(path, (long_ago, long_ago))  # old, but referenced: kept
    report = cleanup(world).run(dry_run=False)
    assert report.orphans == ["alice/zombie/losing-attempt.csv"]
    assert young_orphan.exists()
    assert any(live in f for f in stored_files(world))


def test_admins_run_cleanup_over_http(world: World) -> None:
    completed_export(world)
    world.clock.advance(RETENTION_S + 5)
    assert (
        world.api.client.post("/v1/ops/cleanup", headers=world.api.as_user("alice")).status_code
        == 403
    )
    admin = world.api.as_user("root", plan="pro", admin=True)
    dry = world.api.client.post("/v1/ops/cleanup", headers=admin).json()
    assert (dry["dry_run"], dry["expired_removed"]) == (True, 1)
    real = world.api.client.post("/v1/ops/cleanup?dry_run=false", headers=admin).json()
    assert (real["dry_run"], real["expired_removed"]) == (False, 1)

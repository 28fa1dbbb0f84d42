"""The migrations produce exactly the schema the code declares, on every backend."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select

from exportd.config import load_settings
from exportd.db import Database, create_database
from exportd.db.migrate import current_revision, head_revision, is_at_head, upgrade
from exportd.db.tables import exports, jobs, metadata
from exportd.exports.read_model import active_count
from tests.support.databases import fresh_pg_database, require_postgres


def test_migrated_schema_matches_the_models(db: Database) -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_database_is_at_head(db: Database) -> None:
    assert current_revision(db) == head_revision(db)
    assert is_at_head(db)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_runs_in_wal_mode(db: Database) -> None:
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000


def test_claim_index_is_partial(db: Database) -> None:
    indexes = {ix["name"]: ix for ix in inspect(db.engine).get_indexes("jobs")}
    assert {"ix_jobs_claim", "ix_jobs_lease", "uq_jobs_unique_key_active"} <= indexes.keys()
    assert indexes["uq_jobs_unique_key_active"]["unique"]


@pytest.fixture(params=["sqlite", "postgres"])
def unmigrated(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
        database = create_database(load_settings(database_url=url), pool=False)
        yield database
        database.dispose()
        return
    require_postgres()
    with fresh_pg_database(migrated=False) as url:
        database = create_database(load_settings(database_url=url), pool=False)
        yield database
        database.dispose()


def test_export_jobs_from_before_fair_keys_get_their_owner_as_key(unmigrated: Database) -> None:
    upgrade(unmigrated, "0017")
    now = datetime(2026, 12, 1, tzinfo=UTC)
    job = {
        "queue": "default", "task": "exportd.export", "payload": {}, "priority": 0,
        "run_after": now, "attempt": 0, "attempts_used": 0, "max_attempts": 3,
        "created_at": now, "updated_at": now, "fair_key": None,
    }  # fmt: skip
    with unmigrated.write() as conn:
        conn.execute(
            jobs.insert(),
            [
                {**job, "id": 1, "state": "running"},
                {**job, "id": 2, "state": "failed"},
                {**job, "id": 3, "state": "queued", "task": "exportd.deliver"},
                {**job, "id": 4, "state": "queued", "fair_key": "kept"},
            ],
        )
        export = {
            "plan": "free", "source": "trades", "format": "csv", "params": {},
            "status": "running", "created_at": now, "updated_at": now,
        }  # fmt: skip
        conn.execute(
            exports.insert(),
            [
                {**export, "id": "e1", "owner_id": "ann", "job_id": 1},
                {**export, "id": "e2", "owner_id": "bob", "job_id": 2},
                {**export, "id": "e4", "owner_id": "cy", "job_id": 4},
                {**export, "id": "e5", "owner_id": "di", "job_id": None},
            ],
        )
    upgrade(unmigrated)
    with unmigrated.read() as conn:
        keys = dict(conn.execute(select(jobs.c.id, jobs.c.fair_key)).all())
        assert keys == {1: "ann", 2: "bob", 3: None, 4: "kept"}
        assert active_count(conn, "ann") == 1
        assert active_count(conn, "bob") == 0

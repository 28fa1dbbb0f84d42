"""The migrations produce exactly the schema the code declares, on every backend."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from exportd.db import Database
from exportd.db.migrate import current_revision, head_revision, is_at_head
from exportd.db.tables import metadata


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

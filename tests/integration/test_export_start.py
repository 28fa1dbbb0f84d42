"""A child's first read: the export, its plan and its owner's usage in one statement; the
usage then decides, while fresh, whether the finished file fits (exports/start.py)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, update

from exportd.db import Database
from exportd.db.tables import exports
from exportd.errors import TerminalJobError
from exportd.exports.plans import plan_for, save_plan
from exportd.exports.quotas import stored_and_today
from exportd.exports.start import USAGE_FRESH, read_start

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
ROW = {
    "owner_id": "ann", "plan": "roomy", "source": "trades", "format": "csv", "params": {},
    "created_at": NOW, "updated_at": NOW, "expires_at": NOW + timedelta(days=7),
}  # fmt: skip


class NoReads:
    """A connection that must not be read from."""

    def execute(self, *_: Any, **__: Any) -> Any:
        raise AssertionError("read the usage again")


@pytest.fixture
def seeded(db: Database) -> Database:
    with db.write() as conn:
        roomy = dataclasses.replace(plan_for(conn, "pro"), name="roomy", storage_quota_bytes=1_000)
        save_plan(conn, roomy)
        conn.execute(
            insert(exports),
            [
                {**ROW, "id": "kept", "status": "completed", "result": {"size": 600}},
                {
                    **ROW,
                    "id": "other",
                    "owner_id": "bo",
                    "status": "completed",
                    "result": {"size": 900},
                },
                {**ROW, "id": "new", "status": "running", "result": None},
            ],
        )
    return db


def test_the_start_reads_the_export_its_plan_and_its_owners_usage(seeded: Database) -> None:
    with seeded.read() as conn:
        start = read_start(conn, "new", NOW)
        assert start.usage == stored_and_today(conn, "ann", NOW) == (600, 600)
    assert (start.export.id, start.export.owner_id, start.export.status) == (
        "new",
        "ann",
        "running",
    )
    assert (start.plan.name, start.plan.storage_quota_bytes) == ("roomy", 1_000)


def test_a_file_finished_soon_is_checked_without_a_read(seeded: Database) -> None:
    with seeded.read() as conn:
        start = read_start(conn, "new", NOW)
    soon = NOW + USAGE_FRESH / 2
    start.check_file(NoReads(), 400, soon)  # type: ignore[arg-type]
    with seeded.read() as conn, pytest.raises(TerminalJobError) as refused:
        start.check_file(conn, 401, soon)
    assert refused.value.code == "storage_quota_exceeded"


def test_a_file_finished_later_reads_the_usage_again(seeded: Database) -> None:
    with seeded.read() as conn:
        start = read_start(conn, "new", NOW)
    later = NOW + USAGE_FRESH
    with pytest.raises(AssertionError, match="read the usage again"):
        start.check_file(NoReads(), 1, later)  # type: ignore[arg-type]
    grow(seeded, 300)  # another export of hers completed meanwhile
    with seeded.read() as conn, pytest.raises(TerminalJobError):
        start.check_file(conn, 200, later)


def test_a_file_the_old_usage_refuses_fits_once_exports_were_deleted(seeded: Database) -> None:
    with seeded.read() as conn:
        start = read_start(conn, "new", NOW)
    with seeded.write() as conn:
        conn.execute(update(exports).where(exports.c.id == "kept").values(deleted_at=NOW))
    with seeded.read() as conn:
        start.check_file(conn, 900, NOW)


def test_a_missing_export_is_named(seeded: Database) -> None:
    with seeded.read() as conn, pytest.raises(TerminalJobError) as gone:
        read_start(conn, "nope", NOW)
    assert gone.value.code == "export_not_found"


def grow(db: Database, size: int) -> None:
    with db.write() as conn:
        conn.execute(
            insert(exports),
            {**ROW, "id": f"more{size}", "status": "completed", "result": {"size": size}},
        )

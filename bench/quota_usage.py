"""Quota checks as an owner's exports pile up: the ledger (migration 0019) against the
scan the checks made before it, in the same run, on SQLite and PostgreSQL.

Every export is checked three times (asked for, file complete, settled).  The scan read
every file the owner keeps and every export of its last day; a month-end run of
thousands of invoices made each check slower than the export it guarded.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from common import machine, migrate, scratch_postgres, scratch_sqlite
from exportd.config import load_settings
from exportd.db import create_database
from exportd.db.tables import exports
from exportd.exports.quotas import scanned_usage, stored_and_today

SIZES = [int(n) for n in os.environ.get("BENCH_QUOTA_EXPORTS", "100,2000,20000").split(",")]
DATABASES = os.environ.get("BENCH_QUOTA_DATABASES", "sqlite,postgres").split(",")
READS = 60


def fill(db: object, count: int, now: datetime) -> None:
    """``count`` exports of one owner over its last day (and a tenth as many of another),
    as a month-end run leaves them: completed, each with its file."""
    rows = [
        {
            "id": uuid.uuid4().hex, "owner_id": "busy" if i % 10 else "other", "plan": "pro",
            "source": "invoices", "format": "pdf", "params": {}, "status": "completed",
            "result": {"size": 40_000, "rows": 1},
            "created_at": now - timedelta(seconds=i * 80_000 / count),
            "updated_at": now - timedelta(seconds=i * 80_000 / count),
            "expires_at": now + timedelta(days=7),
        }
        for i in range(count)
    ]  # fmt: skip
    with db.write() as conn:  # type: ignore[attr-defined]
        for start in range(0, count, 2000):
            conn.execute(insert(exports), rows[start : start + 2000])


def timed(db: object, read: object, now: datetime) -> tuple[float, tuple[int, int]]:
    took = []
    for _ in range(READS):
        with db.read() as conn:  # type: ignore[attr-defined]
            started = time.perf_counter()
            usage = read(conn, "busy", now)  # type: ignore[operator]
            took.append(time.perf_counter() - started)
    return statistics.median(took) * 1000, usage


def measure(kind: str) -> None:
    for count in SIZES:
        scratch = scratch_sqlite() if kind == "sqlite" else scratch_postgres("exportd_bench_quota")
        with scratch as url:
            migrate(url)
            db = create_database(load_settings(database_url=url))
            now = datetime.now(UTC)
            fill(db, count, now)
            if kind == "postgres":
                with db.write() as conn:
                    conn.exec_driver_sql("ANALYZE exports")
            ledger_ms, by_ledger = timed(db, stored_and_today, now)
            scan_ms, by_scan = timed(db, scanned_usage, now)
            db.dispose()
        assert by_ledger == by_scan, (by_ledger, by_scan)
        print(
            f"{kind:8s} {count:6d} exports ({count * 9 // 10} of one owner): ledger "
            f"{ledger_ms:6.2f} ms, scan {scan_ms:6.2f} ms = ledger {scan_ms / ledger_ms:5.1f}x "
            "faster a check"
        )


def main() -> None:
    print(f"# Quota checks (stored bytes and the last day's), median of {READS} — {machine()}")
    for kind in DATABASES:
        measure(kind)


if __name__ == "__main__":
    main()

"""A small tenant behind a heavy one: how long the small tenant's one job waits.

One worker of concurrency 2.  The heavy tenant queues a backlog of short jobs; as soon
as the worker is busy with it, the small tenant queues one job.  Measured twice in the
same run on each database: with fairness (each job's ``fair_key`` is its tenant, so
tenants take turns) and in the old claim order (no keys: priority, run_after, id, which
is what a plain FIFO queue does).  The ratio is the old wait over the fair one.
"""

from __future__ import annotations

import os
import time

from sqlalchemy import func, select

from common import exportd_worker, machine, migrate, scratch_postgres, scratch_sqlite
from exportd.config import load_settings
from exportd.db import Database, create_database
from exportd.db.tables import jobs
from exportd.queue import JobStore, NewJob

HEAVY = int(os.environ.get("BENCH_HEAVY_JOBS", "40"))
JOB_S = float(os.environ.get("BENCH_JOB_SECONDS", "0.1"))
CONCURRENCY = 2


def small_tenant_wait(url: str, *, fair: bool) -> tuple[float, float]:
    """The small tenant's wait (s) and the time (s) until the whole backlog is done."""
    settings = load_settings(database_url=url)
    db = create_database(settings)
    store = JobStore.from_settings(settings)

    def job(tenant: str) -> NewJob:
        key = tenant if fair else None
        return NewJob(task="exportd.sleep", payload={"seconds": JOB_S}, fair_key=key)

    with exportd_worker(url, concurrency=CONCURRENCY):
        began = time.perf_counter()
        with db.write() as conn:
            store.enqueue_many(conn, [job("heavy") for _ in range(HEAVY)])
        while _count(db, "running") == 0:
            time.sleep(0.005)
        with db.write() as conn:
            small = store.enqueue(conn, job("small")).job.id
        while _count(db, "completed") < HEAVY + 1:
            time.sleep(0.02)
        total = time.perf_counter() - began
        with db.read() as conn:
            done = store.get(conn, small)
    db.dispose()
    assert done.started_at is not None
    return (done.started_at - done.created_at).total_seconds(), total


def _count(db: Database, state: str) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).where(jobs.c.state == state)).scalar_one())


def main() -> None:
    print(
        f"# Small tenant behind a heavy one: {HEAVY} jobs of {JOB_S * 1000:.0f} ms, "
        f"then 1; one worker, concurrency {CONCURRENCY} — {machine()}"
    )
    for name, scratch in (("PostgreSQL", scratch_postgres), ("SQLite", scratch_sqlite)):
        results = {}
        for fair in (False, True):
            args = ("exportd_bench_fair",) if scratch is scratch_postgres else ()
            with scratch(*args) as url:  # type: ignore[operator]
                migrate(url)
                results[fair] = small_tenant_wait(url, fair=fair)
        (old, old_total), (new, new_total) = results[False], results[True]
        print(f"{name + ', old order':24s} wait {old * 1000:8.0f} ms   backlog {old_total:5.2f} s")
        print(f"{name + ', fair':24s} wait {new * 1000:8.0f} ms   backlog {new_total:5.2f} s")
        print(f"ratio ({name}): the small tenant waits {old / max(new, 1e-3):.1f}x less")


if __name__ == "__main__":
    main()

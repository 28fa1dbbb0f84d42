"""No-op job throughput: a backlog of jobs drained by one worker, jobs per second.

Side by side in the same run, on the same PostgreSQL server: Procrastinate's worker
draining the same number of no-op jobs.  Also SQLite.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

from sqlalchemy import func, select

from common import ROOT, exportd_worker, machine, migrate, scratch_postgres, scratch_sqlite
from exportd.config import load_settings
from exportd.db import create_database
from exportd.db.tables import jobs
from exportd.queue import JobStore, NewJob

JOBS = int(os.environ.get("BENCH_JOBS", "20000"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "4"))
PREFETCH = os.environ.get("BENCH_PREFETCH", "32")


def exportd_throughput(url: str, count: int) -> float:
    settings = load_settings(database_url=url)
    db = create_database(settings)
    store = JobStore.from_settings(settings)
    with exportd_worker(url, concurrency=CONCURRENCY, worker_prefetch=PREFETCH):
        with db.write() as conn:
            store.enqueue_many(conn, [NewJob(task="exportd.noop") for _ in range(count)])
        started = time.perf_counter()
        while True:
            with db.read() as conn:
                done = conn.execute(
                    select(func.count()).where(jobs.c.state == "completed")
                ).scalar_one()
            if done >= count:
                break
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
    db.dispose()
    return count / elapsed


def procrastinate_throughput(url: str, count: int) -> float:
    os.environ["BENCH_PROCRASTINATE_URL"] = url
    sys.path.insert(0, str(ROOT / "bench"))
    from procrastinate_app import app

    async def run() -> float:
        async with app.open_async():
            await app.schema_manager.apply_schema_async()
            for start in range(0, count, 1000):
                await app.tasks["noop"].batch_defer_async(
                    *({} for _ in range(min(1000, count - start)))
                )
            began = time.perf_counter()
            await app.run_worker_async(
                concurrency=CONCURRENCY, wait=False, install_signal_handlers=False
            )
            return count / (time.perf_counter() - began)

    return asyncio.run(run())


def main() -> None:
    print(
        f"# No-op throughput, {JOBS} jobs, concurrency {CONCURRENCY}, "
        f"exportd prefetch {PREFETCH} — {machine()}"
    )
    with scratch_postgres("exportd_bench_tp") as url:
        migrate(url)
        ours = exportd_throughput(url, JOBS)
    with scratch_postgres("exportd_bench_tp_procrastinate") as url:
        theirs = procrastinate_throughput(url, min(JOBS, 5000))
    with scratch_sqlite() as url:
        migrate(url)
        sqlite = exportd_throughput(url, JOBS)
    print(f"{'exportd, PostgreSQL':32s} {ours:8.0f} jobs/s")
    print(f"{'Procrastinate, PostgreSQL':32s} {theirs:8.0f} jobs/s")
    print(f"{'exportd, SQLite':32s} {sqlite:8.0f} jobs/s")
    print(f"ratio: exportd is {ours / theirs:.1f}x Procrastinate's throughput on PostgreSQL")


if __name__ == "__main__":
    main()

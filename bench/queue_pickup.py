"""Pickup latency: from an enqueue's commit to the job starting in a worker's child.

Idle workers, one job at a time.  Compared in the same run with the same worker
polling (wake-ups off, 100 ms interval: what a home-grown polling queue does) and,
on PostgreSQL, with Procrastinate's worker on the same server.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    ROOT,
    exportd_worker,
    machine,
    migrate,
    scratch_postgres,
    scratch_sqlite,
    summary_ms,
)
from exportd.config import load_settings
from exportd.db import create_database
from exportd.queue import JobState, JobStore, NewJob

SAMPLES = int(os.environ.get("BENCH_SAMPLES", "200"))
# Looking for the job's end while it is picked up takes the CPU it needs on two cores
# (exportd's look is a query, Procrastinate's a file read): both look only after this.
FIRST_LOOK_S = 0.02
WARMUP = 5


def exportd_pickup(url: str, **worker_env: str) -> list[float]:
    settings = load_settings(database_url=url)
    db = create_database(settings)
    store = JobStore.from_settings(settings)
    latencies = []
    with exportd_worker(url, concurrency=2, **worker_env):
        for i in range(SAMPLES + WARMUP):
            with db.write() as conn:
                job_id = store.enqueue(
                    conn, NewJob(task="exportd.noop", payload={"stamp": True})
                ).job.id
            committed = time.time()
            time.sleep(FIRST_LOOK_S)
            while True:
                with db.read() as conn:
                    job = store.get(conn, job_id)
                if job.state is JobState.COMPLETED:
                    break
                time.sleep(0.002)
            if i >= WARMUP and job.result:
                latencies.append(job.result["started"] - committed)
            time.sleep(0.03)  # the worker goes idle again
    db.dispose()
    return latencies


def procrastinate_pickup(url: str) -> list[float]:
    os.environ["BENCH_PROCRASTINATE_URL"] = url.replace("+psycopg", "")
    sys.path.insert(0, str(ROOT / "bench"))
    from procrastinate_app import app

    with app.open():
        app.schema_manager.apply_schema()
    stamps = Path(tempfile.mkdtemp()) / "stamps"
    stamps.touch()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "bench")}
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "procrastinate",
            "--app=procrastinate_app.app",
            "worker",
            "--concurrency",
            "2",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    latencies = []
    try:
        time.sleep(2.0)
        with app.open():
            for i in range(SAMPLES + WARMUP):
                app.tasks["noop"].defer(stamp_file=str(stamps))
                committed = time.time()
                time.sleep(FIRST_LOOK_S)
                while len(lines := stamps.read_text().splitlines()) < i + 1:
                    time.sleep(0.002)
                if i >= WARMUP:
                    latencies.append(float(lines[i]) - committed)
                time.sleep(0.03)
    finally:
        worker.terminate()
        worker.wait(30)
    return latencies


def main() -> None:
    print(f"# Pickup latency (commit -> job start), idle workers — {machine()}")
    results: dict[str, list[float]] = {}
    with scratch_postgres("exportd_bench_pickup") as url:
        migrate(url)
        results["exportd, PostgreSQL, LISTEN/NOTIFY"] = exportd_pickup(url)
        results["polling queue, PostgreSQL (100 ms)"] = exportd_pickup(
            url, worker_wakeups="false", poll_interval_s="0.1"
        )
    with scratch_postgres("exportd_bench_procrastinate") as url:
        results["Procrastinate, PostgreSQL"] = procrastinate_pickup(url)
    with scratch_sqlite() as url:
        migrate(url)
        results["exportd, SQLite, data_version watch"] = exportd_pickup(url)
        results["polling queue, SQLite (100 ms)"] = exportd_pickup(
            url, worker_wakeups="false", poll_interval_s="0.1"
        )
    for name, values in results.items():
        print(f"{name:40s} {summary_ms(values)}")
    ours = statistics.median(results["exportd, PostgreSQL, LISTEN/NOTIFY"])
    for baseline in ("Procrastinate, PostgreSQL", "polling queue, PostgreSQL (100 ms)"):
        ratio = statistics.median(results[baseline]) / ours
        print(f"ratio (p50): exportd is {ratio:.1f}x faster than {baseline}")
    sqlite = statistics.median(results["exportd, SQLite, data_version watch"])
    ratio = statistics.median(results["polling queue, SQLite (100 ms)"]) / sqlite
    print(f"ratio (p50): exportd on SQLite is {ratio:.1f}x faster than polling")


if __name__ == "__main__":
    main()

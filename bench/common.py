"""Shared plumbing for the benchmarks: scratch databases, worker processes, statistics."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2 as httpx
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("EXPORTD_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def machine() -> str:
    return f"{platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()}"


@contextmanager
def scratch_postgres(name: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for one benchmark run."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = PG_ADMIN.rpartition("/")[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextmanager
def scratch_sqlite() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as folder:
        yield f"sqlite:///{folder}/bench.db"


def migrate(url: str) -> None:
    from exportd.config import load_settings
    from exportd.db import create_database
    from exportd.db.migrate import upgrade

    db = create_database(load_settings(database_url=url), pool=False)
    upgrade(db)
    db.dispose()


@contextmanager
def exportd_worker(url: str, *, concurrency: int, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    environment = {
        **os.environ,
        "EXPORTD_DATABASE_URL": url,
        "EXPORTD_LOG_LEVEL": "warning",
        **{f"EXPORTD_{k.upper()}": v for k, v in env.items()},
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "exportd", "worker", "--concurrency", str(concurrency)],
        env=environment,
    )
    try:
        time.sleep(2.0)  # children spawned and idle
        yield process
    finally:
        process.terminate()
        process.wait(30)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"p50 {statistics.median(ms):7.2f} ms   p99 {percentile(ms, 99):7.2f} ms   n={len(ms)}"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_clients(
    base: str, tokens: list[str], per_client: int, one: Callable[[httpx.Client], float]
) -> tuple[list[float], float]:
    """``per_client`` calls of ``one`` from each token's client at once: the latencies
    (ms) and the wall time (s)."""
    latencies: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def loop(token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            for _ in range(per_client):
                try:
                    took = one(client)
                except Exception as exc:  # reported after the run
                    errors.append(exc)
                    return
                with lock:
                    latencies.append(took)

    started = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(t,)) for t in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} clients failed; the first: {errors[0]!r}")
    return sorted(latencies), time.perf_counter() - started


@contextmanager
def exportd_server(url: str, **env: str) -> Iterator[str]:
    """``exportd serve`` on a free port against ``url``: its base URL once it is ready."""
    with exportd_server_process(url, **env) as (base, _):
        yield base


@contextmanager
def exportd_server_process(url: str, **env: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``exportd serve`` as ``exportd_server`` starts it: its base URL and its process."""
    port = free_port()
    environment = {
        **os.environ,
        "EXPORTD_DATABASE_URL": url,
        "EXPORTD_LOG_LEVEL": "warning",
        **{f"EXPORTD_{k.upper()}": v for k, v in env.items()},
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "exportd", "serve", "--port", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(f"{base}/readyz").raise_for_status()
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError("the API did not start")
        yield base, server
    finally:
        server.terminate()
        server.wait(15)

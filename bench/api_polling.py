"""Status polling: requests/s and latency of GET /v1/exports/{id}, with and without
If-None-Match, from wrk on loopback against `exportd serve` (BENCH_WORKERS processes).

Needs `wrk` (Debian: apt-get install wrk).  Target on a 2-core machine: >= 2,000 req/s,
p99 <= 50 ms.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from common import machine, migrate, scratch_postgres, scratch_sqlite
from exportd.auth.principal import Principal
from exportd.auth.tokens import mint
from exportd.config import jwt_key, load_settings
from exportd.db import create_database
from exportd.exports.models import ExportRequest
from exportd.exports.service import ExportService
from exportd.queue import JobStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.sources import fake_sources

DURATION = os.environ.get("BENCH_DURATION", "10s")
CONNECTIONS = os.environ.get("BENCH_CONNECTIONS", "16")
WORKERS = os.environ.get("BENCH_WORKERS", "1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed_export(url: str) -> tuple[str, str]:
    settings = load_settings(database_url=url)
    db = create_database(settings)
    service = ExportService(
        db=db, store=JobStore.from_settings(settings), sources=fake_sources(), settings=settings
    )
    view, _ = service.create(
        Principal("bench", "pro"), ExportRequest(source="trades", format="csv", params={})
    )
    db.dispose()
    return view.id, mint("bench", secret=jwt_key(settings), plan="pro")


def wrk(url: str, headers: dict[str, str]) -> tuple[float, float, float]:
    args = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{DURATION}", "--latency", url]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        raise RuntimeError(f"{non_2xx.group(1)} failed responses:\n{out}")
    return rps, p50, p99


def _ms(value: str) -> float:
    number = float(re.match(r"[\d.]+", value).group(0))  # type: ignore[union-attr]
    return (
        number / 1000
        if value.endswith("us")
        else number * 1000
        if value.endswith("s") and not value.endswith("ms")
        else number
    )


def measure(url: str) -> dict[str, tuple[float, float, float]]:
    migrate(url)
    export_id, token = seed_export(url)
    port = free_port()
    env = {**os.environ, "EXPORTD_DATABASE_URL": url, "EXPORTD_LOG_LEVEL": "warning"}
    server = subprocess.Popen(
        [sys.executable, "-m", "exportd", "serve", "--port", str(port), "--workers", WORKERS],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        target = f"http://127.0.0.1:{port}/v1/exports/{export_id}"
        auth = {"Authorization": f"Bearer {token}"}
        for _ in range(100):
            try:
                etag = httpx.get(target, headers=auth).headers["etag"]
                break
            except (httpx.HTTPError, KeyError):
                time.sleep(0.1)
        # Warm up: the connection pools grow and the server settles before measuring.
        subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{CONNECTIONS}",
                "-d2s",
                "-H",
                f"Authorization: {auth['Authorization']}",
                target,
            ],
            capture_output=True,
            check=True,
        )
        return {
            "GET (full body)": wrk(target, auth),
            "GET with If-None-Match (304)": wrk(target, {**auth, "If-None-Match": etag}),
        }
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("bench/api_polling.py needs wrk: apt-get install wrk")
    print(
        f"# Status polling, wrk -t2 -c{CONNECTIONS} -d{DURATION}, {WORKERS} server process(es)"
        f" — {machine()}"
    )
    results = {}
    with scratch_sqlite() as url:
        for name, figures in measure(url).items():
            results[f"SQLite, {name}"] = figures
    with scratch_postgres("exportd_bench_polling") as url:
        for name, figures in measure(url).items():
            results[f"PostgreSQL, {name}"] = figures
    for name, (rps, p50, p99) in results.items():
        print(f"{name:42s} {rps:8.0f} req/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms")
    for backend in ("SQLite", "PostgreSQL"):
        full = results[f"{backend}, GET (full body)"][0]
        cached = results[f"{backend}, GET with If-None-Match (304)"][0]
        print(f"ratio ({backend}): a 304 poll is {cached / full:.2f}x the rate of a full GET")


if __name__ == "__main__":
    tempfile.tempdir = None
    main()

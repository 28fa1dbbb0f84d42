"""Small exports at scale: the per-job cost, through the real API and worker processes.

N tiny exports (a 10-row CSV, a one-page Typst resume, a one-page WeasyPrint resume),
each POSTed and then waited for (a long poll held until it is final) by C clients at once,
against `exportd serve` and 1 or 2 `exportd worker` processes, on SQLite and PostgreSQL.
In the same run, on the same database, as the baselines these are measured against:

- the API's create rate: the same POSTs with no worker running (what one API process
  accepts per second; a node's workers should keep up with it), and how fast one worker
  process alone drains the backlog that run leaves (no API or client on the cores);
- the queue's no-op throughput: a backlog of no-op jobs drained by one worker.

Prints exports/s, POST -> completed p50/p95 under load and for one client at a time, and
the ratios against both baselines, with each phase's CPU an export by process and the
ceilings that CPU puts on the ratio; then the time an admin's bulk run of BENCH_SMALL_BULK
one-page resumes (one per user) takes to complete, month-end's workload.

    python bench/small_exports.py      (also part of `make bench`)
    BENCH_SMALL_N=200 BENCH_SMALL_DATABASES=sqlite python bench/small_exports.py
    BENCH_SMALL_WAIT=change python bench/small_exports.py   (a long poll per change)
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx2 as httpx
from sqlalchemy import func, select

from common import (
    exportd_server,
    exportd_server_process,
    exportd_worker,
    machine,
    migrate,
    percentile,
    run_clients,
    scratch_postgres,
    scratch_sqlite,
)
from cpu_budget import CpuMeter, budget_line, postmaster_pids
from exportd.auth.principal import Principal
from exportd.auth.tokens import mint
from exportd.config import jwt_key, load_settings
from exportd.db import create_database
from exportd.db.tables import exports, jobs
from exportd.demo.resumes import RESUMES
from exportd.demo.tables import create_demo_tables, seed_trades
from exportd.documents.service import DocumentService
from exportd.exports.plans import plan_for, save_plan
from exportd.queue import JobStore
from queue_throughput import exportd_throughput

N = int(os.environ.get("BENCH_SMALL_N", "160"))
CLIENTS = int(os.environ.get("BENCH_SMALL_CLIENTS", "8"))
SEQUENTIAL = int(os.environ.get("BENCH_SMALL_SEQUENTIAL", "30"))
DATABASES = os.environ.get("BENCH_SMALL_DATABASES", "sqlite,postgres").split(",")
NOOP_JOBS = int(os.environ.get("BENCH_SMALL_NOOP_JOBS", "3000"))
BULK = int(os.environ.get("BENCH_SMALL_BULK", "1000"))  # 0: no bulk run
# How clients wait for the outcome: one long poll held until it is final (`?until=final`,
# docs/api.md), the default; `change`: a long poll per change (started, then completed);
# `poll`: a plain GET every POLL_S, as clients did before long polls.
WAIT = os.environ.get("BENCH_SMALL_WAIT", "final")
POLL_S = 0.005  # short: the poll interval must not be what is measured
DEMO_SOURCES = '["exportd.demo.sources:demo_sources"]'

WORKLOADS: list[tuple[str, dict[str, Any]]] = [
    ("10-row CSV", {"source": "trades", "format": "csv", "params": {"limit": 10}}),
    ("one-page Typst PDF", {"source": "resume", "format": "pdf", "template": "classic"}),
    ("one-page WeasyPrint PDF", {"source": "resume", "format": "pdf", "template": "modern"}),
]


@contextmanager
def database(kind: str) -> Iterator[str]:
    scratch = scratch_sqlite() if kind == "sqlite" else scratch_postgres("exportd_bench_small")
    with scratch as url:
        migrate(url)
        yield url


# Pro with room for every export the create-rate run leaves queued (pro allows 10 active).
BENCH_PLAN = "bench"


def seed(url: str, users: list[str]) -> None:
    db = create_database(load_settings(database_url=url), pool=False)
    with db.write() as conn:
        pro = plan_for(conn, "pro")
        save_plan(conn, dataclasses.replace(pro, name=BENCH_PLAN, max_active_jobs=100_000))
        create_demo_tables(conn)
        for user in users:
            seed_trades(conn, user, 20)
    db.dispose()


@contextmanager
def workers(url: str, processes: int) -> Iterator[list[int]]:
    """``processes`` worker processes: their pids."""
    with ExitStack() as stack:
        yield [
            stack.enter_context(exportd_worker(url, concurrency=2, source_modules=DEMO_SOURCES)).pid
            for _ in range(processes)
        ]


def drained(url: str, timeout_s: float = 600) -> None:
    db = create_database(load_settings(database_url=url), pool=False)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            with db.read() as conn:
                waiting = conn.execute(
                    select(func.count()).where(jobs.c.state.in_(("queued", "running")))
                ).scalar_one()
            if not waiting:
                return
            time.sleep(0.2)
        raise RuntimeError("the workers did not drain the backlog")
    finally:
        db.dispose()


def drain_rate(url: str) -> float:
    """Exports/s of the jobs done so far, first start to last finish: the worker alone
    with both cores, no API or client running (what it can keep up with)."""
    db = create_database(load_settings(database_url=url), pool=False)
    try:
        with db.read() as conn:
            first, last, done = conn.execute(
                select(
                    func.min(jobs.c.started_at), func.max(jobs.c.finished_at), func.count()
                ).where(jobs.c.state == "completed")
            ).one()
    finally:
        db.dispose()
    return float(done / max((last - first).total_seconds(), 1e-6))


def create(client: httpx.Client, body: dict[str, Any]) -> tuple[str, str]:
    """The new export's id and ETag (its status's, as GET would answer)."""
    response = client.post("/v1/exports", json=body)
    response.raise_for_status()
    return str(response.json()["id"]), response.headers.get("etag", "")


def wait_completed(client: httpx.Client, export_id: str, etag: str) -> None:
    query = "?until=final" if WAIT == "final" else ""
    while True:
        headers = {"If-None-Match": etag}
        if WAIT != "poll":
            headers["Prefer"] = "wait=30"
        response = client.get(f"/v1/exports/{export_id}{query}", headers=headers)
        if response.status_code == 200:
            etag = response.headers["etag"]
            status = response.json()["status"]
            if status == "completed":
                return
            if status in ("failed", "cancelled", "expired"):
                raise RuntimeError(f"export {export_id} {status}: {response.json()['error']}")
        if WAIT == "poll":
            time.sleep(POLL_S)


def end_to_end(
    body: dict[str, Any], timed: list[Timed] | None = None
) -> Callable[[httpx.Client], float]:
    """One export, POSTed and waited for: its latency (ms).  ``timed`` collects when the
    client asked and heard (wall clock, as the database's timestamps), by export."""

    def one(client: httpx.Client) -> float:
        started, asked = time.perf_counter(), time.time()
        export_id, etag = create(client, body)
        wait_completed(client, export_id, etag)
        if timed is not None:
            timed.append(Timed(export_id, asked, time.time()))
        return (time.perf_counter() - started) * 1000

    return one


@dataclasses.dataclass(frozen=True)
class Timed:
    export_id: str
    asked: float
    heard: float


def latency_parts(url: str, timed: list[Timed]) -> str:
    """Where one client's wait went, from its export's job's timestamps (p50 of each part):
    the POST until the job was queued, its pickup (queued -> claimed and started), its run
    (started -> settled, the file stored) and the settled outcome reaching the client."""
    db = create_database(load_settings(database_url=url), pool=False)
    try:
        with db.read() as conn:
            stamps = {
                row.id: row
                for row in conn.execute(
                    select(exports.c.id, jobs.c.created_at, jobs.c.started_at, jobs.c.finished_at)
                    .select_from(exports.join(jobs, exports.c.job_id == jobs.c.id))
                    .where(exports.c.id.in_([t.export_id for t in timed]))
                )
            }
    finally:
        db.dispose()
    parts: dict[str, list[float]] = {"POST": [], "pickup": [], "run": [], "heard": []}
    for t in timed:
        row = stamps[t.export_id]
        queued, started, settled = (
            row.created_at.timestamp(),
            row.started_at.timestamp(),
            row.finished_at.timestamp(),
        )
        parts["POST"].append(queued - t.asked)
        parts["pickup"].append(started - queued)
        parts["run"].append(settled - started)
        parts["heard"].append(t.heard - settled)
    medians = {name: statistics.median(values) * 1000 for name, values in parts.items()}
    return (
        " + ".join(f"{name} {ms:.1f}" for name, ms in medians.items())
        + " ms (p50 of each; POST: until the job is queued, heard: settled to answered)"
    )


def create_only(body: dict[str, Any]) -> Callable[[httpx.Client], float]:
    def one(client: httpx.Client) -> float:
        started = time.perf_counter()
        create(client, body)
        return (time.perf_counter() - started) * 1000

    return one


def measure(kind: str) -> None:
    users = [f"client{i}" for i in range(CLIENTS)]
    per_client = max(1, N // CLIENTS)
    with database(kind) as url:
        seed(url, users)
        key = jwt_key(load_settings(database_url=url))
        tokens = [mint(user, secret=key, plan=BENCH_PLAN, ttl_s=3600) for user in users]
        with exportd_server_process(url, source_modules=DEMO_SOURCES) as (base, server):
            for token in tokens:
                httpx.post(
                    f"{base}/v1/documents",
                    headers={"Authorization": f"Bearer {token}"},
                    json={"title": "CV", "content": RESUMES["alice"]},
                ).raise_for_status()
            database_parts = {"PostgreSQL": postmaster_pids()} if kind == "postgres" else {}
            # The API alone: how fast one process accepts exports (no worker takes them).
            meter = CpuMeter({"API": [server.pid], **database_parts})
            meter.start()
            _, took = run_clients(base, tokens, per_client, create_only(WORKLOADS[0][1]))
            created = per_client * len(tokens)
            create_rate = created / took
            print(f"{kind}: API create rate {create_rate:6.0f} exports/s ({CLIENTS} clients)")
            print(f"{kind}:   creating alone: {budget_line(meter.stop(), created, took)}")
            for processes in (1, 2):
                with workers(url, processes) as pids:
                    drained(url)  # the create-rate run's backlog, before measuring
                    if processes == 1:
                        drain = drain_rate(url)
                        print(
                            f"{kind}: the create-rate run's backlog drained by 1 worker "
                            f"process alone: {drain:6.1f} exports/s = "
                            f"{drain / create_rate:4.2f}x the create rate"
                        )
                    meter = CpuMeter({"API": [server.pid], "worker": pids, **database_parts})
                    for label, body in WORKLOADS:
                        run_clients(base, tokens[:2], 2, end_to_end(body))  # warm
                        meter.start()
                        loaded, elapsed = run_clients(base, tokens, per_client, end_to_end(body))
                        spent = meter.stop()
                        timed: list[Timed] = []
                        alone, _ = run_clients(
                            base, tokens[:1], SEQUENTIAL, end_to_end(body, timed)
                        )
                        rate = len(loaded) / elapsed
                        print(
                            f"{kind}: {label:24s} {processes} worker process(es): "
                            f"{rate:6.1f} exports/s = {rate / create_rate:4.2f}x the create rate; "
                            f"{CLIENTS} clients p50 {statistics.median(loaded):6.1f} ms "
                            f"p95 {percentile(loaded, 95):6.1f} ms; one client p50 "
                            f"{statistics.median(alone):6.1f} ms"
                        )
                        print(f"{kind}:   {budget_line(spent, len(loaded), elapsed)}")
                        print(f"{kind}:   one client's wait: {latency_parts(url, timed)}")
                        print(f"{kind}:   {ceilings(spent, len(loaded), create_rate)}")
    if BULK:
        with database(kind) as url:
            took = bulk_resumes(url, BULK)
            print(
                f"{kind}: admin bulk of {BULK} one-page Typst resumes: {took:6.1f} s "
                f"= {BULK / took:5.1f} resumes/s (one worker process)"
            )
    with database(kind) as url:
        noop = exportd_throughput(url, NOOP_JOBS)
        print(f"{kind}: queue no-op throughput {noop:6.0f} jobs/s (one worker)")


def ceilings(spent: dict[str, float], done: int, create_rate: float) -> str:
    """The throughput the phase's CPU an export allows, against the create rate: with
    every core busy from start to end, and with the API process on one core (it runs
    Python under one lock): the ceilings on the ratio at that cost."""
    every_core = (os.cpu_count() or 1) * done / sum(spent.values())
    api_core = done / spent["API"]
    return (
        f"at this cost, every core busy: at most {every_core:.0f} exports/s = "
        f"{every_core / create_rate:.2f}x the create rate; the API process on one core: "
        f"at most {api_core:.0f}/s = {api_core / create_rate:.2f}x"
    )


def bulk_resumes(url: str, count: int) -> float:
    """An admin's bulk run of ``count`` resumes, one per user (each with a document of
    their own): seconds from the request to the last one completed."""
    users = [f"bulk{i}" for i in range(count)]
    settings = load_settings(database_url=url)
    db = create_database(settings, pool=False)
    documents = DocumentService(db=db, store=JobStore.from_settings(settings), max_sections=50)
    for user in users:
        documents.create(Principal(user, "pro"), title="CV", content=RESUMES["alice"])
    db.dispose()
    admin = mint("root", secret=jwt_key(settings), plan="pro", admin=True, ttl_s=3600)
    body = {"user_ids": users, "plan": "pro", "export": WORKLOADS[1][1]}
    with exportd_server(url, source_modules=DEMO_SOURCES) as base, workers(url, 1):
        started = time.perf_counter()
        httpx.post(
            f"{base}/v1/admin/exports/bulk",
            json=body,
            headers={"Authorization": f"Bearer {admin}"},
            timeout=120,
        ).raise_for_status()
        drained(url)
        return time.perf_counter() - started


def main() -> None:
    print(f"# Small exports, {N} per workload, {CLIENTS} clients waiting by {WAIT} — {machine()}")
    for kind in DATABASES:
        measure(kind.strip())


if __name__ == "__main__":
    main()

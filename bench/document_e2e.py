"""Resume PDFs end to end under load: 8 clients at once, each POSTing a resume export and
polling it (with If-None-Match) until it is completed, against `exportd serve` and
`exportd worker --concurrency 2` on PostgreSQL, per engine.  Prints p50/p95 of
POST -> completed and the throughput, and the ratio against the seeds' 10 s.

Targets on a 2-core machine: p95 <= 250 ms with Typst, <= 1 s with the HTML default.

    python bench/document_e2e.py   (also part of `make bench`)
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import httpx2 as httpx

from common import (
    exportd_server,
    exportd_worker,
    machine,
    migrate,
    run_clients,
    scratch_postgres,
)
from exportd.auth.tokens import mint
from exportd.config import jwt_key, load_settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from exportd.demo.resumes import RESUMES

CLIENTS = int(os.environ.get("BENCH_CLIENTS", "8"))
PER_CLIENT = int(os.environ.get("BENCH_PER_CLIENT", "20"))
POLL_S = 0.05
ENGINES = (
    ("Typst (classic)", "classic", "weasyprint"),
    ("WeasyPrint (modern, the HTML default)", "modern", "weasyprint"),
    ("Chromium (modern)", "modern", "chromium"),
)


def one_export(client: httpx.Client, template: str) -> float:
    started = time.perf_counter()
    created = client.post(
        "/v1/exports", json={"source": "resume", "format": "pdf", "template": template}
    )
    created.raise_for_status()
    export_id = created.json()["id"]
    etag = ""
    while True:
        response = client.get(f"/v1/exports/{export_id}", headers={"If-None-Match": etag})
        if response.status_code == 200:
            etag = response.headers["etag"]
            status = response.json()["status"]
            if status == "completed":
                return (time.perf_counter() - started) * 1000
            if status in ("failed", "cancelled", "expired"):
                raise RuntimeError(f"export {export_id} {status}: {response.json()['error']}")
        time.sleep(POLL_S)


def measure(label: str, template: str, engine: str) -> dict[str, float]:
    with scratch_postgres("exportd_bench_documents") as url:
        migrate(url)
        settings = load_settings(database_url=url)
        # One user per client, each with a resume, on the pro plan (no per-user limit bites).
        tokens = [
            mint(f"client{i}", secret=jwt_key(settings), plan="pro", ttl_s=3600)
            for i in range(CLIENTS)
        ]
        with exportd_server(url) as base:
            for token in tokens:
                httpx.post(
                    f"{base}/v1/documents",
                    headers={"Authorization": f"Bearer {token}"},
                    json={"title": "CV", "content": RESUMES["alice"]},
                ).raise_for_status()
            with exportd_worker(url, concurrency=2, pdf_engine=engine):
                run_clients(base, tokens[:2], PER_CLIENT, lambda c: one_export(c, template))  # warm
                latencies, elapsed = run_clients(
                    base, tokens, PER_CLIENT, lambda c: one_export(c, template)
                )
    return {
        "p50": statistics.median(latencies),
        "p95": latencies[int(len(latencies) * 0.95) - 1],
        "per_s": len(latencies) / elapsed,
    }


def main() -> None:
    print(
        f"# Resume PDF end to end, {CLIENTS} clients x {PER_CLIENT} exports, PostgreSQL, "
        f"worker --concurrency 2 — {machine()}"
    )
    only = os.environ.get("BENCH_ENGINES", "")  # e.g. "Typst,Chromium"
    for label, template, engine in ENGINES:
        if only and not any(label.startswith(name) for name in only.split(",")):
            continue
        figures = measure(label, template, engine)
        print(
            f"{label:40s} p50 {figures['p50']:7.0f} ms   p95 {figures['p95']:7.0f} ms   "
            f"{figures['per_s']:5.1f} PDFs/s   p95 is {10_000 / figures['p95']:.0f}x "
            "under the seeds' 10 s"
        )


if __name__ == "__main__":
    main()

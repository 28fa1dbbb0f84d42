"""What tracing costs: per request through the API (in-process, SQLite), with tracing off
and on, in interleaved rounds; and one span on its own.

"on" is the production path: spans built and handed to a BatchSpanProcessor, whose
exporter (here one that drops them) runs in a background thread.  "off" is the default:
no middleware, and every tracing call returns the shared no-op.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from common import machine, migrate, scratch_sqlite
from exportd import tracing
from exportd.api.app import create_app
from exportd.auth.tokens import mint
from exportd.config import jwt_key, load_settings
from exportd.db import create_database
from exportd.exports.plans import plan_for, save_plan

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.sources import fake_sources

ROUNDS = 7
REQUESTS = 300
SPANS = 20_000


class Dropped(SpanExporter):
    def export(self, spans: Sequence[object]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def per_call_us(call: Callable[[], object], count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        call()
    return (time.perf_counter() - started) / count * 1e6


def main() -> None:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Dropped()))
    with scratch_sqlite() as url:
        migrate(url)
        settings = load_settings(database_url=url, poll_cache_rows=0)
        db = create_database(settings)
        with db.write() as conn:
            save_plan(conn, replace(plan_for(conn, "pro"), name="bench", max_active_jobs=10**6))
        headers = {"Authorization": f"Bearer {mint('b', secret=jwt_key(settings), plan='bench')}"}
        body = {"source": "trades", "format": "csv", "params": {}}
        tracing.install(provider)  # before the app is made: create_app would configure OTLP
        apps = {
            "off": TestClient(create_app(settings, db=db, sources=fake_sources())),
            "on": TestClient(
                create_app(
                    settings.model_copy(update={"otel_enabled": True}),
                    db=db,
                    sources=fake_sources(),
                )
            ),
        }
        export_id = apps["off"].post("/v1/exports", json=body, headers=headers).json()["id"]
        requests: dict[str, Callable[[TestClient], object]] = {
            "GET /healthz": lambda c: c.get("/healthz"),
            "GET /v1/exports/{id}": lambda c: c.get(f"/v1/exports/{export_id}", headers=headers),
            "POST /v1/exports (enqueues)": lambda c: c.post(
                "/v1/exports", json=body, headers=headers
            ),
        }
        print(f"# Tracing overhead per request, in-process, SQLite — {machine()}")
        print(f"# median of {ROUNDS} interleaved rounds of {REQUESTS} requests each")
        for name, send in requests.items():
            rounds: dict[str, list[float]] = {"off": [], "on": []}
            for number in range(ROUNDS):
                # Alternate which goes first: each POST adds an export, so later is slower.
                for mode in ("off", "on") if number % 2 else ("on", "off"):
                    tracing.uninstall() if mode == "off" else tracing.install(provider)
                    client = apps[mode]
                    rounds[mode].append(per_call_us(lambda c=client, s=send: s(c), REQUESTS))
            off, on = statistics.median(rounds["off"]), statistics.median(rounds["on"])
            print(
                f"{name:<30} off {off:8.0f} us   on {on:8.0f} us   "
                f"{on - off:+6.0f} us ({(on - off) / off:+.1%})"
            )
        tracing.uninstall()
        off = per_call_us(_one_span, SPANS)
        tracing.install(provider)
        with tracing.span("parent"):
            on = per_call_us(_one_span, SPANS)
        tracing.uninstall()
        print(f"{'one span (enter + exit)':<30} off {off:8.2f} us   on {on:8.2f} us")
        db.dispose()
    provider.shutdown()


def _one_span() -> None:
    with tracing.span("x", {"exportd.job.task": "t"}):
        pass


if __name__ == "__main__":
    main()

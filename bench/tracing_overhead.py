"""What tracing costs: CPU time per request through the API (the ASGI app called
directly, SQLite), with tracing off and on, in interleaved rounds; and one span alone.

"on" is the production path: spans built and handed to a BatchSpanProcessor, whose
exporter (here one that drops them) runs in a background thread.  "off" is the default:
no middleware, and every tracing call returns the shared no-op.  CPU time of the whole
process (its threads included) moves less than wall time on a busy machine.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
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

ROUNDS = 9
REQUESTS = 400
SPANS = 20_000


class Dropped(SpanExporter):
    def export(self, spans: Sequence[object]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def scope(method: str, path: str, headers: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


async def call(app: Any, request: tuple[str, str, dict[str, str], bytes]) -> int:
    method, path, headers, body = request
    status = 0
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)  # a request body is read once; then nothing more
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope(method, path, headers), receive, send)
    return status


async def per_request_us(app: Any, request: tuple[str, str, dict[str, str], bytes]) -> float:
    started = time.process_time()
    for _ in range(REQUESTS):
        status = await call(app, request)
        assert status < 300, status
    return (time.process_time() - started) / REQUESTS * 1e6


def main() -> None:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Dropped()))
    with scratch_sqlite() as url:
        migrate(url)
        settings = load_settings(database_url=url, poll_cache_rows=0)
        db = create_database(settings)
        with db.write() as conn:
            save_plan(conn, replace(plan_for(conn, "pro"), name="bench", max_active_jobs=10**6))
        token = mint("b", secret=jwt_key(settings), plan="bench")
        auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        body = orjson.dumps({"source": "trades", "format": "csv", "params": {}})
        tracing.install(provider)  # before the app is made: create_app would configure OTLP
        on = create_app(
            settings.model_copy(update={"otel_enabled": True}), db=db, sources=fake_sources()
        )
        off = create_app(settings, db=db, sources=fake_sources())
        with TestClient(off) as client:
            export_id = client.post("/v1/exports", content=body, headers=auth).json()["id"]
        requests = {
            "GET /healthz": ("GET", "/healthz", {}, b""),
            "GET /v1/exports/{id}": ("GET", f"/v1/exports/{export_id}", auth, b""),
            "POST /v1/exports (enqueues)": ("POST", "/v1/exports", auth, body),
        }
        apps = {"off": off, "on": on}
        print(f"# Tracing overhead: CPU per request, ASGI in-process, SQLite — {machine()}")
        print(f"# median of {ROUNDS} interleaved rounds of {REQUESTS} requests each")
        loop = asyncio.new_event_loop()
        for name, request in requests.items():
            rounds: dict[str, list[float]] = {"off": [], "on": []}
            for number in range(ROUNDS):
                # Alternate which goes first: each POST adds an export, so later is slower.
                for mode in ("off", "on") if number % 2 else ("on", "off"):
                    tracing.uninstall() if mode == "off" else tracing.install(provider)
                    rounds[mode].append(
                        loop.run_until_complete(per_request_us(apps[mode], request))
                    )
            cost_off, cost_on = statistics.median(rounds["off"]), statistics.median(rounds["on"])
            print(
                f"{name:<30} off {cost_off:7.0f} us   on {cost_on:7.0f} us   "
                f"{cost_on - cost_off:+5.0f} us ({(cost_on - cost_off) / cost_off:+.1%})"
            )
        loop.close()
        tracing.uninstall()
        span_off = span_us()
        tracing.install(provider)
        with tracing.span("parent"):
            span_on = span_us()
        tracing.uninstall()
        print(f"{'one span (enter + exit)':<30} off {span_off:7.2f} us   on {span_on:7.2f} us")
        db.dispose()
    provider.shutdown()


def span_us() -> float:
    started = time.process_time()
    for _ in range(SPANS):
        with tracing.span("x", {"exportd.job.task": "t"}):
            pass
    return (time.process_time() - started) / SPANS * 1e6


if __name__ == "__main__":
    main()

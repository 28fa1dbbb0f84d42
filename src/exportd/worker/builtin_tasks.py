"""Tasks every worker knows: a no-op (benchmarks, smoke tests) and a timed sleep."""

from __future__ import annotations

import time
from typing import Any

from exportd.queue.app import App
from exportd.queue.tasks import JobContext


def noop(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any] | None:
    # Benchmarks read "started" to measure the pickup latency (commit -> job start): a
    # wall-clock time compared across processes.
    return {"started": time.time()} if payload.get("stamp") else None


def sleep(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    seconds = float(payload.get("seconds", 1.0))
    steps = max(int(seconds / 0.1), 1)
    for step in range(steps):
        time.sleep(seconds / steps)
        ctx.checkpoint(percent=round(100 * (step + 1) / steps, 1))
    return {"slept": seconds}


def register(app: App) -> None:
    app.task("exportd.noop")(noop)
    app.task("exportd.sleep")(sleep)

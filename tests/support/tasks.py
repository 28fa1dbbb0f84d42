"""Tasks for the worker tests; loaded with ``exportd worker --import tests.support.tasks``."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from exportd.errors import RetryableJobError, TerminalJobError
from exportd.queue.tasks import JobContext, task


def _note(payload: dict[str, Any], ctx: JobContext, what: str) -> None:
    if "log" in payload:
        with Path(payload["log"]).open("a") as log:
            log.write(f"{ctx.job_id}:{ctx.attempt}:{what}\n")


@task("test.record")
def record(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Note the start and the end of each attempt; sleep in between with checkpoints:
    ``seconds``, or ``later_seconds`` for the attempts after the first (one that a test
    interrupts need not make the retry wait as long).  ``"checkpoints": false``: none,
    as a long computation that neither reports progress nor hears its supervisor."""
    _note(payload, ctx, "start")
    seconds = payload.get("seconds", 0)
    if ctx.attempt > 1:
        seconds = payload.get("later_seconds", seconds)
    deadline = time.monotonic() + float(seconds)
    while time.monotonic() < deadline:
        time.sleep(0.02)
        if payload.get("checkpoints", True):
            ctx.checkpoint(percent=50)
    _note(payload, ctx, "end")
    return {"attempt": ctx.attempt, "pid": os.getpid()}


@task("test.crash")
def crash(ctx: JobContext, payload: dict[str, Any]) -> None:
    _note(payload, ctx, "start")
    os.kill(os.getpid(), signal.SIGKILL)


@task("test.fail")
def fail(ctx: JobContext, payload: dict[str, Any]) -> None:
    if payload.get("retryable"):
        raise RetryableJobError("storage was unavailable")
    raise TerminalJobError("the params do not validate", code="validation_failed")


@task("test.hog")
def hog(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Grow by 20 MB every 20 ms and hold on to it."""
    held = []
    for _ in range(int(payload["mb"]) // 20):
        held.append(bytearray(20 * 1024 * 1024))
        time.sleep(0.02)
    time.sleep(30)

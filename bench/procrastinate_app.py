"""The Procrastinate side of the benchmarks: the same no-op jobs, on the same server."""

from __future__ import annotations

import os
import time

import procrastinate

app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(conninfo=os.environ.get("BENCH_PROCRASTINATE_URL", ""))
)


@app.task(name="noop")
def noop(stamp_file: str | None = None) -> None:
    if stamp_file:
        with open(stamp_file, "a") as out:
            out.write(f"{time.time()}\n")

"""Counting an export's rows while they are read, against counting them first (what the
worker did before 2026-11-23): a million demo trades in SQLite and in PostgreSQL,
exported as ``trades`` to Parquet and as ``daily_pnl`` to CSV — an aggregate, whose
count runs the whole GROUP BY before the read runs it again.  Each case in its own
process, after its imports, engine and connections, the two ways taking turns
BENCH_REPEATS times (default 3); the median time counts.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import export_formats
from common import machine

ROWS = int(os.environ.get("BENCH_COUNT_ROWS", "1000000"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
DATABASES = os.environ.get("BENCH_DATABASES", "sqlite,postgresql").split(",")
EXPORTS = [("trades", "parquet"), ("daily_pnl", "csv")]
WAYS = ["first", "alongside"]


def run_case(way: str, source_name: str, fmt: str, url: str, out: str) -> None:
    sys.meta_path.insert(0, export_formats._HiddenBenchLibraries())
    export_formats._import_for("exportd-")
    import pyarrow as pa

    from exportd.config import load_settings
    from exportd.db import create_database
    from exportd.demo.sources import demo_sources

    pa.set_memory_pool(pa.system_memory_pool())
    db = create_database(load_settings(database_url=url))
    with db.read(), db.read():
        pass
    source = {s.name: s for s in demo_sources()}[source_name]
    names = [c.name for c in source.columns]
    started = time.perf_counter()
    export_formats.export_with_exportd(
        db, source, source.params_model(), names, fmt, out, count_first=way == "first"
    )
    print(time.perf_counter() - started)


def measure(way: str, source_name: str, fmt: str, url: str) -> float:
    with tempfile.TemporaryDirectory() as folder:
        out = str(Path(folder) / f"out.{fmt}")
        done = subprocess.run(
            [sys.executable, __file__, "--run", way, source_name, fmt, url, out],
            capture_output=True,
            text=True,
            check=True,
        )
        return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    print(f"# Row count alongside the read, {ROWS:,} trades — {machine()}")
    for kind in DATABASES:
        with export_formats.database(kind) as url:
            export_formats.seed(url, ROWS)
            for source_name, fmt in EXPORTS:
                times: dict[str, list[float]] = {way: [] for way in WAYS}
                for _ in range(REPEATS):
                    for way in WAYS:
                        times[way].append(measure(way, source_name, fmt, url))
                first, alongside = (statistics.median(times[w]) for w in WAYS)
                print(
                    f"{kind:10s} {source_name:10s} {fmt:8s} counted first {first:6.3f} s"
                    f"  alongside {alongside:6.3f} s"
                    f"  alongside is {first / alongside:4.2f}x faster",
                    flush=True,
                )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--run":
        run_case(*sys.argv[2:7])
    else:
        main()

"""Export speed and memory per format: exportd's streaming path against what a user
would otherwise write (pandas read_sql + to_*, polars read_database_uri over ADBC +
write_*, stdlib csv/json, XlsxWriter constant memory), each case in its own process so
peak RSS is its own.

BENCH_ROWS (default 100000,1000000) rows of demo trades, in SQLite and in PostgreSQL
(BENCH_DATABASES, default sqlite,postgresql; PostgreSQL at BENCH_PG_URL), every format
(BENCH_FORMATS, default csv,parquet,jsonl,xlsx), every case whose name starts with one of
BENCH_ONLY (default exportd,pandas,polars,stdlib,xlsxwriter).  Baselines run up to
BENCH_BASELINE_MAX rows (default 1000000: pandas holds the whole result, 1.2 GB at a
million rows), XLSX baselines up to BENCH_XLSX_MAX (default 100000: pandas needs minutes
beyond that).  Up to BENCH_BASELINE_MAX rows each case runs BENCH_REPEATS times (default
3), the cases taking turns, and the median time counts: on this virtual machine one run
of the same export varied by a third within minutes.  ``exportd-rows-*`` is exportd with
EXPORTD_ARROW_FETCH=false (rows fetched through SQLAlchemy), to show what the Arrow fetch
is worth.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common import machine

ROWS = [int(n) for n in os.environ.get("BENCH_ROWS", "100000,1000000").split(",")]
XLSX_MAX = int(os.environ.get("BENCH_XLSX_MAX", "100000"))
BASELINE_MAX = int(os.environ.get("BENCH_BASELINE_MAX", "1000000"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
XLSX_EXPORTD_MAX = int(os.environ.get("BENCH_XLSX_EXPORTD_MAX", "1000000"))
SEED_MAX = 1_000_000
DATABASES = os.environ.get("BENCH_DATABASES", "sqlite,postgresql").split(",")
FORMATS = os.environ.get("BENCH_FORMATS", "csv,parquet,jsonl,xlsx").split(",")
ONLY = tuple(os.environ.get("BENCH_ONLY", "exportd,pandas,polars,stdlib,xlsxwriter").split(","))
PG_URL = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PG_DATABASE = "exportd_bench_formats"
COLUMNS = [
    "id",
    "symbol",
    "direction",
    "status",
    "quantity",
    "entry_price",
    "exit_price",
    "pnl",
    "opened_at",
    "closed_at",
    "notes",
]


def seed(url: str, rows: int) -> None:
    from exportd.config import load_settings
    from exportd.db import create_database
    from exportd.demo.tables import create_demo_tables, seed_trades

    db = create_database(load_settings(database_url=url))
    columns = ", ".join(c for c in [*COLUMNS, "tag"] if c != "id")
    with db.write() as conn:
        create_demo_tables(conn)
        seed_trades(conn, "scratch", min(rows, SEED_MAX))
        # A journal records trades as they happen: stored in time order, as here.
        conn.exec_driver_sql(
            f"INSERT INTO demo_trades (owner_id, {columns}) SELECT 'bench', {columns}"
            " FROM demo_trades WHERE owner_id = 'scratch' ORDER BY opened_at, id"
        )
        conn.exec_driver_sql("DELETE FROM demo_trades WHERE owner_id = 'scratch'")
    # Beyond a million, copy what is there (seeding row by row would take ten minutes).
    have = min(rows, SEED_MAX)
    while have < rows:
        with db.write() as conn:
            conn.exec_driver_sql(
                f"INSERT INTO demo_trades (owner_id, {columns}) SELECT owner_id, {columns}"
                f" FROM demo_trades ORDER BY id LIMIT {min(have, rows - have)}"
            )
        have += min(have, rows - have)
    db.dispose()
    import sqlalchemy as sa

    plain = sa.create_engine(url, isolation_level="AUTOCOMMIT")  # VACUUM refuses a transaction
    with plain.connect() as conn:
        conn.exec_driver_sql("VACUUM")
        conn.exec_driver_sql("ANALYZE")
    plain.dispose()


def run_case(case: str, url: str, out: str) -> None:
    """One case, in this process: the parent reads our peak RSS from the result line.
    What a process does once — importing libraries, creating the engine, opening its
    first connection — is done before the clock starts, for every case: a worker does it
    once, not per export (it was 15 to 30 ms of a 100 k-row export's 200).  The time is
    the export's."""
    if case.startswith("exportd-"):
        # exportd depends on neither pandas, polars nor numpy, but the ADBC driver
        # manager imports the first two when they are installed (+76 MB for pandas
        # here) and pyarrow the third (+11 MB): hidden, as in a worker installed with
        # pip alone (its child peaked at 165 MB for a million trades to Parquet).
        sys.meta_path.insert(0, _HiddenBenchLibraries())
    _import_for(case)
    if case.startswith("exportd-"):
        import pyarrow as pa

        pa.set_memory_pool(pa.system_memory_pool())  # as the worker's child does
    export = _exporter(case, url)  # a connection opened and back in its pool
    imports_mb = peak_rss_mb()
    started, cpu_started = time.perf_counter(), time.process_time()
    export(out)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started  # every thread of the process
    peak_mb = peak_rss_mb()
    print(
        json.dumps({"elapsed": elapsed, "cpu": cpu, "peak_mb": peak_mb, "imports_mb": imports_mb})
    )


def peak_rss_mb() -> float:
    """This process's peak resident memory.  Linux's ``ru_maxrss`` is not it: it keeps
    the high-water mark of the memory the process was exec'd from, so every case read
    at least the parent's size (165 MB after seeding, against 127 of its own).
    ``VmHWM`` is the peak of this process's own memory."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # other systems


class _HiddenBenchLibraries:
    """The bench's own libraries, which a worker installed with pip alone has not."""

    def find_spec(self, name: str, path: object, target: object = None) -> None:
        if name.partition(".")[0] in ("pandas", "polars", "numpy"):
            raise ImportError(f"{name} is hidden from exportd's cases")


ADBC_DRIVERS = ("adbc_driver_sqlite.dbapi", "adbc_driver_postgresql.dbapi")


def _import_for(case: str) -> None:
    import sqlalchemy  # noqa: F401

    if case.startswith(("exportd-", "polars-")):
        # The ADBC driver manager imports pyarrow.dataset (and pandas when installed):
        # once per worker child, not per export.
        for driver in ADBC_DRIVERS:
            importlib.import_module(driver)
    if case.startswith("exportd-"):
        import exportd.demo.sources
        import exportd.exports.counting
        import exportd.formats.csv
        import exportd.formats.json
        import exportd.formats.parquet
        import exportd.formats.xlsx
        import exportd.formats.xlsx_fast
        import exportd.sources.arrow_fetch  # noqa: F401
    elif case.startswith("pandas-"):
        import pandas  # noqa: F401
    elif case.startswith("polars-"):
        import polars  # noqa: F401
    elif case.startswith("xlsxwriter-"):
        import xlsxwriter  # noqa: F401


def _exporter(case: str, url: str) -> Callable[[str], None]:
    """The case's export, ready to run: its engine made and a connection pooled."""
    import sqlalchemy as sa

    if case.startswith("exportd-"):
        from exportd.config import load_settings
        from exportd.db import create_database
        from exportd.demo.sources import TradeParams, TradesSource

        db = create_database(load_settings(database_url=url))
        with db.read(), db.read():  # the export's connection and its count's
            pass
        fmt = case.removeprefix("exportd-").removeprefix("rows-")
        arrow_fetch = not case.startswith("exportd-rows-")
        # A worker that has exported before keeps its ADBC PostgreSQL connection (as a
        # baseline's engine keeps its connection): one small export of the same kind.
        export_with_exportd(
            db, TradesSource(), TradeParams(limit=100), COLUMNS, fmt, os.devnull,
            arrow_fetch=arrow_fetch,
        )  # fmt: skip
        return lambda out: _exportd(db, fmt, out, arrow_fetch=arrow_fetch)
    engine = sa.create_engine(url)
    with engine.connect():
        pass
    return lambda out: _baseline(case, engine, url, out)


def _exportd(db: Any, fmt: str, out: str, *, arrow_fetch: bool) -> None:
    from exportd.demo.sources import TradeParams, TradesSource

    export_with_exportd(
        db, TradesSource(), TradeParams(), COLUMNS, fmt, out, arrow_fetch=arrow_fetch
    )


def export_with_exportd(
    db: Any,
    source: Any,
    params: Any,
    names: list[str],
    fmt: str,
    out: str,
    *,
    arrow_fetch: bool = True,
    count_first: bool | None = None,
) -> None:
    """An export as the worker's task runs it (exports/task.py), without the job: counted
    while the rows are read — first for XLSX, whose count tells it its sheets up front,
    or when ``count_first`` says so — read ahead in a thread while the writer writes."""
    from exportd.exports.counting import RowCount
    from exportd.formats import FORMATS, OutputColumn, open_writer
    from exportd.sources.prefetch import prefetched
    from exportd.sources.query import ARROW_FETCH_OPTION

    columns = [OutputColumn(c, c) for c in names]

    def count_apart() -> int | None:
        with db.read() as own:
            return source.count(own, "bench", params)

    first = FORMATS[fmt].counted_first if count_first is None else count_first
    with (
        db.read() as conn,
        open(out, "wb") as sink,
        RowCount(
            (lambda: source.count(conn, "bench", params)) if first else count_apart,
            alongside=not first,
        ) as counted,
    ):
        conn.execution_options(**{ARROW_FETCH_OPTION: arrow_fetch})
        total = counted.known()
        schema = source.arrow_schema(names)
        writer = open_writer(fmt, sink, columns, schema, rows_expected=total)
        fetched = source.batches(conn, "bench", params, names, batch_size=10_000)
        with prefetched(fetched) as batches:
            for batch in batches:
                writer.write(batch)
                counted.known()  # the worker's progress checkpoint
        writer.close()


def _baseline(case: str, engine: Any, url: str, out: str) -> None:
    import sqlalchemy as sa

    query = (
        f"SELECT {', '.join(COLUMNS)} FROM demo_trades "
        "WHERE owner_id = 'bench' ORDER BY opened_at, id"
    )
    if case.startswith("polars-"):
        import polars as pl

        # Polars reads through the same ADBC drivers, into one frame, then writes it.
        uri = url.replace("+psycopg", "")
        frame = pl.read_database_uri(query, uri, engine="adbc")
        {
            "polars-csv": frame.write_csv,
            "polars-parquet": frame.write_parquet,
            "polars-jsonl": frame.write_ndjson,
        }[case](out)
        return
    if case.startswith("pandas-"):
        import pandas as pd

        frame = pd.read_sql(query, engine)
        if case == "pandas-xlsx":  # Excel has no time zones: pandas refuses zoned columns
            for name in frame.select_dtypes(include=["datetimetz"]).columns:
                frame[name] = frame[name].dt.tz_localize(None)
        {
            "pandas-csv": lambda: frame.to_csv(out, index=False),
            "pandas-parquet": lambda: frame.to_parquet(out),
            "pandas-xlsx": lambda: frame.to_excel(out, index=False),
            "pandas-jsonl": lambda: frame.to_json(out, orient="records", lines=True),
        }[case]()
        return
    with engine.connect() as conn:
        rows = conn.execution_options(stream_results=True).execute(sa.text(query))
        if case == "stdlib-csv":
            import csv

            with open(out, "w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(COLUMNS)
                writer.writerows(rows)
        elif case == "stdlib-jsonl":
            with open(out, "w") as handle:
                for row in rows:
                    handle.write(json.dumps(dict(zip(COLUMNS, row, strict=True)), default=str))
                    handle.write("\n")
        elif case == "xlsxwriter-xlsx":
            import xlsxwriter

            book = xlsxwriter.Workbook(out, {"constant_memory": True, "remove_timezone": True})
            sheet = book.add_worksheet()
            sheet.write_row(0, 0, COLUMNS)
            for i, row in enumerate(rows, start=1):
                sheet.write_row(i, 0, row)
            book.close()


def measure(case: str, url: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        out = str(Path(folder) / f"out.{case.rsplit('-', 1)[1]}")
        done = subprocess.run(
            [sys.executable, __file__, "--run", case, url, out],
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result["bytes"] = Path(out).stat().st_size
        return result


def measure_interleaved(cases: list[str], url: str, repeats: int) -> dict[str, dict[str, float]]:
    """Each case ``repeats`` times, taking turns (so a slow spell of the machine falls on
    every case alike): the median time and imports, the highest peak."""
    runs: dict[str, list[dict[str, float]]] = {case: [] for case in cases}
    for _ in range(repeats):
        for case in cases:
            runs[case].append(measure(case, url))
    return {
        case: {
            "elapsed": statistics.median(r["elapsed"] for r in found),
            "cpu": statistics.median(r["cpu"] for r in found),
            "imports_mb": statistics.median(r["imports_mb"] for r in found),
            "peak_mb": max(r["peak_mb"] for r in found),
            "bytes": found[-1]["bytes"],
        }
        for case, found in runs.items()
    }


CASES = {
    "csv": ["exportd-csv", "exportd-rows-csv", "pandas-csv", "polars-csv", "stdlib-csv"],
    "parquet": ["exportd-parquet", "pandas-parquet", "polars-parquet"],
    "jsonl": ["exportd-jsonl", "pandas-jsonl", "polars-jsonl", "stdlib-jsonl"],
    "xlsx": ["exportd-xlsx", "xlsxwriter-xlsx", "pandas-xlsx"],
}


def _row_cap(case: str, fmt: str) -> float:
    """The most rows a case runs at: baselines (and exportd's row path, a comparison)
    stop at BENCH_BASELINE_MAX, XLSX baselines at BENCH_XLSX_MAX, exportd's XLSX at
    BENCH_XLSX_EXPORTD_MAX."""
    if case == f"exportd-{fmt}":
        return XLSX_EXPORTD_MAX if fmt == "xlsx" else float("inf")
    if fmt == "xlsx":
        return XLSX_MAX
    return BASELINE_MAX


def cpu_floor(label: str, ours: dict[str, float], pandas: dict[str, float]) -> str:
    """How far exportd could go against pandas on this machine: its export's CPU time
    (every thread) spread over every core from the first millisecond to the last."""
    cores = os.cpu_count() or 1
    floor = ours["cpu"] / cores
    return (
        f"{label} CPU floor: exportd used {ours['cpu'] * 1000:,.0f} ms of CPU in"
        f" {ours['elapsed'] * 1000:,.0f} ms ({ours['cpu'] / ours['elapsed']:.2f} cores busy);"
        f" all {cores} cores busy throughout: {floor * 1000:,.0f} ms,"
        f" at most {pandas['elapsed'] / floor:.2f}x pandas"
    )


@contextmanager
def database(kind: str) -> Iterator[str]:
    """An empty database of that kind, dropped afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/bench.db"
        return
    import sqlalchemy as sa

    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {PG_DATABASE}")
        conn.exec_driver_sql(f"CREATE DATABASE {PG_DATABASE}")
    try:
        yield sa.make_url(PG_URL).set(database=PG_DATABASE).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
        admin.dispose()


def main() -> None:
    print(f"# Export formats — {machine()}")
    for kind in DATABASES:
        for rows in ROWS:
            with database(kind) as url:
                seed(url, rows)
                for fmt, cases in CASES.items():
                    if fmt not in FORMATS:
                        continue
                    runs = [c for c in cases if rows <= _row_cap(c, fmt) and c.startswith(ONLY)]
                    results = measure_interleaved(runs, url, REPEATS if rows <= BASELINE_MAX else 1)
                    ours = results.get(f"exportd-{fmt}")
                    if ours is None:  # above BENCH_XLSX_EXPORTD_MAX: nothing to compare
                        continue
                    for case, r in results.items():
                        ratio = r["elapsed"] / ours["elapsed"]
                        print(
                            f"{kind:10s} {rows:>10,} {fmt:8s} {case:18s}"
                            f" {rows / r['elapsed']:>10,.0f} rows/s"
                            f"  peak {r['peak_mb']:5.0f} MB ({r['imports_mb']:3.0f} imports)"
                            f"  {r['bytes'] / 1e6:8.1f} MB out"
                            f"  exportd is {ratio:5.2f}x faster",
                            flush=True,
                        )
                    if f"pandas-{fmt}" in results:
                        print(
                            cpu_floor(
                                f"{kind:10s} {rows:>10,} {fmt:8s}", ours, results[f"pandas-{fmt}"]
                            )
                        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--run":
        run_case(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        main()

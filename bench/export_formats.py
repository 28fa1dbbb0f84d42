"""Export speed and memory per format: exportd's streaming path against what a user
would otherwise write (pandas read_sql + to_*, stdlib csv/json, XlsxWriter constant
memory), each case in its own process so peak RSS is its own.

BENCH_ROWS (default 100000,1000000) rows of demo trades in SQLite.  XLSX baselines run
only up to BENCH_XLSX_MAX (default 100000) rows: pandas needs minutes beyond that.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine

ROWS = [int(n) for n in os.environ.get("BENCH_ROWS", "100000,1000000").split(",")]
XLSX_MAX = int(os.environ.get("BENCH_XLSX_MAX", "100000"))
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
    with db.write() as conn:
        create_demo_tables(conn)
        seed_trades(conn, "bench", rows)
    db.dispose()


def run_case(case: str, url: str, out: str) -> None:
    """One case, in this process: the parent reads our peak RSS from the result line."""
    started = time.perf_counter()
    if case.startswith("exportd-"):
        _exportd(case.removeprefix("exportd-"), url, out)
    else:
        _baseline(case, url, out)
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"elapsed": elapsed, "peak_mb": peak_mb}))


def _exportd(fmt: str, url: str, out: str) -> None:
    from exportd.config import load_settings
    from exportd.db import create_database
    from exportd.demo.sources import TradeParams, TradesSource
    from exportd.formats import OutputColumn, open_writer

    db = create_database(load_settings(database_url=url))
    source = TradesSource()
    columns = [OutputColumn(c, c) for c in COLUMNS]
    with db.read() as conn, open(out, "wb") as sink:
        writer = open_writer(fmt, sink, columns, source.arrow_schema(COLUMNS))
        for batch in source.batches(conn, "bench", TradeParams(), COLUMNS, batch_size=10_000):
            writer.write(batch)
        writer.close()


def _baseline(case: str, url: str, out: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    query = (
        f"SELECT {', '.join(COLUMNS)} FROM demo_trades "
        "WHERE owner_id = 'bench' ORDER BY opened_at, id"
    )
    if case.startswith("pandas-"):
        import pandas as pd

        frame = pd.read_sql(query, engine)
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

            book = xlsxwriter.Workbook(out, {"constant_memory": True})
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


CASES = {
    "csv": ["exportd-csv", "pandas-csv", "stdlib-csv"],
    "parquet": ["exportd-parquet", "pandas-parquet"],
    "jsonl": ["exportd-jsonl", "pandas-jsonl", "stdlib-jsonl"],
    "xlsx": ["exportd-xlsx", "xlsxwriter-xlsx", "pandas-xlsx"],
}


def main() -> None:
    print(f"# Export formats from SQLite — {machine()}")
    for rows in ROWS:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{folder}/bench.db"
            seed(url, rows)
            for fmt, cases in CASES.items():
                results = {}
                for case in cases:
                    if fmt == "xlsx" and case != "exportd-xlsx" and rows > XLSX_MAX:
                        continue
                    results[case] = measure(case, url)
                ours = results[f"exportd-{fmt}"]
                for case, r in results.items():
                    ratio = r["elapsed"] / ours["elapsed"]
                    print(
                        f"{rows:>9,} {fmt:8s} {case:18s} {rows / r['elapsed']:>10,.0f} rows/s"
                        f"  peak {r['peak_mb']:7.0f} MB  {r['bytes'] / 1e6:8.1f} MB out"
                        f"  exportd is {ratio:5.2f}x faster"
                    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--run":
        run_case(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        main()

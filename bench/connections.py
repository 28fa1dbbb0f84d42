"""Exports from a named data connection: BENCH_CONNECTION_ROWS (default 1000000) orders
read from MariaDB (BENCH_MYSQL_HOST, default 127.0.0.1:3306 as root) and written as CSV
and Parquet by exportd (the worker's path: the connection's snapshot, connectorx's Arrow
batches, the count alongside) against pandas ``read_sql`` + ``to_csv``/``to_parquet``
over the same connection, in the same run, each case in its own process so its peak RSS
is its own.  BENCH_CONNECTION_CANDIDATES=1 adds the drivers' bare reads (connectorx's
Arrow stream, PyMySQL's server-side cursor to Arrow), which chose the MySQL fast path.
The table is made once and kept (database exportd_bench_connections) between runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import machine
from export_formats import _HiddenBenchLibraries, export_with_exportd, peak_rss_mb

ROWS = int(os.environ.get("BENCH_CONNECTION_ROWS", "1000000"))
CANDIDATES = os.environ.get("BENCH_CONNECTION_CANDIDATES", "") == "1"
HOST = os.environ.get("BENCH_MYSQL_HOST", "127.0.0.1")
PORT = int(os.environ.get("BENCH_MYSQL_PORT", "3306"))
DATABASE = "exportd_bench_connections"
URL = f"mariadb://root@{HOST}:{PORT}/{DATABASE}"
COLUMNS = ["id", "customer", "total", "qty", "paid", "placed_at", "note"]
QUERY = (
    f"SELECT {', '.join(COLUMNS)} FROM orders WHERE owner_id = :owner_id ORDER BY id"
)  # fmt: skip
SOURCE = {
    "name": "orders",
    "title": "Orders",
    "connection": "shop",
    "sql": QUERY,
    "columns": [
        {"name": name, "type": kind}
        for name, kind in zip(
            COLUMNS,
            ["integer", "string", "number", "integer", "boolean", "datetime", "string"],
            strict=True,
        )
    ],
}


def seed(rows: int) -> None:
    """``rows`` orders of the owner 'bench' (and as many of another owner), made by
    MariaDB's sequence engine in seconds; kept when already there."""
    import pymysql

    conn = pymysql.connect(host=HOST, port=PORT, user="root", password="", autocommit=True)
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
            cursor.execute(f"USE {DATABASE}")
            cursor.execute("SHOW TABLES LIKE 'orders'")
            if cursor.fetchone():
                cursor.execute("SELECT COUNT(*) FROM orders WHERE owner_id = 'bench'")
                if cursor.fetchone()[0] == rows:
                    return
                cursor.execute("DROP TABLE orders")
            cursor.execute(
                "CREATE TABLE orders (id BIGINT PRIMARY KEY, owner_id VARCHAR(64) NOT NULL,"
                " customer VARCHAR(100) NOT NULL, total DECIMAL(12, 2) NOT NULL,"
                " qty INT NOT NULL, paid BOOLEAN NOT NULL, placed_at DATETIME(6) NOT NULL,"
                " note VARCHAR(200) NULL, KEY (owner_id, id)) ENGINE=InnoDB"
            )
            for owner, offset in (("bench", 0), ("other", rows)):
                cursor.execute(
                    f"INSERT INTO orders SELECT {offset} + seq, '{owner}',"
                    " CONCAT('customer ', seq % 9973), (seq % 100000) / 100, seq % 17,"
                    " seq % 3 = 0, TIMESTAMP('2024-01-01') + INTERVAL seq SECOND,"
                    f" IF(seq % 5 = 0, NULL, CONCAT('note ', seq)) FROM seq_1_to_{rows}"
                )
            cursor.execute("ANALYZE TABLE orders")
    finally:
        conn.close()


def run_case(case: str, out: str) -> None:
    """One case in this process; what a worker does once (imports, the engine, its first
    connection) is done before the clock starts."""
    if case.startswith("exportd-"):
        # pandas, polars and numpy are the bench's, not a worker's (installed with pip
        # alone): the ADBC driver manager would import them (bench/export_formats.py).
        sys.meta_path.insert(0, _HiddenBenchLibraries())
        import pyarrow as pa

        pa.set_memory_pool(pa.system_memory_pool())  # as the worker's child does
    export = _exporter(case)
    imports_mb = peak_rss_mb()
    started = time.perf_counter()
    rows = export(out)
    elapsed = time.perf_counter() - started
    print(json.dumps({"elapsed": elapsed, "peak_mb": peak_rss_mb(), "imports_mb": imports_mb,
                      "rows": rows}))  # fmt: skip


def _exporter(case: str) -> Any:
    if case.startswith("exportd-"):
        import exportd.formats.csv
        import exportd.formats.parquet
        import exportd.sources.arrow_fetch  # noqa: F401
        from exportd.config import ConnectionSpec
        from exportd.sources.connections import DataConnection
        from exportd.sources.loading import load_sources

        spec = ConnectionSpec.model_validate({"url": URL, "statement_timeout_s": 600})
        connection = DataConnection("shop", spec, os.environ)
        source = load_sources([], [SOURCE], {"shop": spec}).get("orders")
        params = source.params_model()  # type: ignore[union-attr]
        fmt = case.removeprefix("exportd-")
        with connection.read(), connection.read():  # the export's connection and its count's
            pass

        def exportd_run(out: str) -> int:
            export_with_exportd(connection, source, params, COLUMNS, fmt, out)
            return ROWS

        return exportd_run
    if case.startswith("pandas-"):
        import pandas as pd
        import sqlalchemy as sa

        engine = sa.create_engine(f"mysql+pymysql://root@{HOST}:{PORT}/{DATABASE}")
        with engine.connect():
            pass

        def pandas_run(out: str) -> int:
            frame = pd.read_sql(sa.text(QUERY), engine, params={"owner_id": "bench"})
            if case == "pandas-csv":
                frame.to_csv(out, index=False)
            else:
                frame.to_parquet(out)
            return len(frame)

        return pandas_run
    sql = QUERY.replace(":owner_id", "'bench'")
    if case == "connectorx-read":
        import connectorx

        def connectorx_run(out: str) -> int:
            reader = connectorx.read_sql(
                f"mysql://root@{HOST}:{PORT}/{DATABASE}", sql, return_type="arrow_stream",
                batch_size=10_000,
            )  # fmt: skip
            return sum(batch.num_rows for batch in reader)

        return connectorx_run
    import pyarrow as pa
    import pymysql

    def pymysql_run(out: str) -> int:
        conn = pymysql.connect(host=HOST, port=PORT, user="root", password="", database=DATABASE,
                               cursorclass=pymysql.cursors.SSCursor)  # fmt: skip
        done = 0
        with conn.cursor() as cursor:
            cursor.execute(sql)
            while rows := cursor.fetchmany(10_000):
                batch = pa.RecordBatch.from_arrays(
                    [pa.array(values) for values in zip(*rows, strict=True)], names=COLUMNS
                )
                done += batch.num_rows
        conn.close()
        return done

    return pymysql_run


def measure(case: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        out = str(Path(folder) / f"out.{case.rsplit('-', 1)[1]}")
        done = subprocess.run(
            [sys.executable, __file__, "--run", case, out],
            capture_output=True,
            text=True,
            check=True,
        )
        result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
        result["bytes"] = Path(out).stat().st_size if Path(out).exists() else 0
        return result


def main() -> None:
    print(f"# Named data connection, MariaDB, {ROWS:,} orders — {machine()}")
    seed(ROWS)
    for fmt in ("csv", "parquet"):
        ours = measure(f"exportd-{fmt}")
        theirs = measure(f"pandas-{fmt}")
        assert ours["bytes"] > 0, ours
        assert theirs["rows"] == ROWS, theirs
        for case, r in ((f"exportd-{fmt}", ours), (f"pandas-{fmt}", theirs)):
            print(
                f"{case:16s} {r['elapsed']:6.2f} s {ROWS / r['elapsed']:>10,.0f} rows/s"
                f"  peak {r['peak_mb']:5.0f} MB  {r['bytes'] / 1e6:7.1f} MB out",
                flush=True,
            )
        ratio = theirs["elapsed"] / ours["elapsed"]
        print(
            f"{fmt}: exportd is {ratio:.1f}x faster than pandas, peak "
            f"{ours['peak_mb']:.0f} MB against {theirs['peak_mb']:.0f} MB",
            flush=True,
        )
    if CANDIDATES:
        for case in ("connectorx-read", "pymysql-read"):
            r = measure(case)
            print(f"{case:16s} {r['elapsed']:6.2f} s  peak {r['peak_mb']:5.0f} MB (read only)")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--run":
        run_case(sys.argv[2], sys.argv[3])
    else:
        main()

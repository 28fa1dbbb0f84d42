"""A 1,000,000-row trades export end to end: the API queues it, a real worker streams it
to storage, the download holds every row (and the count says so)."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator

import httpx2 as httpx
import pytest
from sqlalchemy import insert, select

from exportd.db import Database
from exportd.demo.tables import create_demo_tables, demo_trades, seed_trades
from tests.support.live import Live, live_exportd

pytestmark = pytest.mark.slow

ROWS = 1_000_000


def _seed(db: Database) -> None:
    with db.write() as conn:
        create_demo_tables(conn)
        # 15,625 trades made in Python, doubled six times in SQL: a million rows in
        # seconds (each copy gets its own id) instead of 40 s of Python.  The index is
        # made again after the copies: kept up row by row, it took four times as long.
        seed_trades(conn, "whale", ROWS // 64)
        columns = [c for c in demo_trades.c if c.name != "id"]
        (index,) = demo_trades.indexes
        index.drop(conn)
        for _ in range(6):
            conn.execute(insert(demo_trades).from_select(columns, select(*columns)))
        index.create(conn)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_exportd(tmp_path_factory.mktemp("million"), seed=_seed) as server:
        yield server


def test_a_million_trades_to_csv_end_to_end(live: Live) -> None:
    headers = {"Authorization": f"Bearer {live.token('whale', plan='pro')}"}
    created = httpx.post(
        f"{live.url}/v1/exports",
        headers=headers,
        json={"source": "trades", "format": "csv", "columns": ["id", "symbol", "pnl"]},
    )
    assert created.status_code == 202, created.text
    export_id = created.json()["id"]
    deadline = time.monotonic() + 600
    while True:
        export = httpx.get(f"{live.url}/v1/exports/{export_id}", headers=headers).json()
        if export["status"] not in ("queued", "running"):
            break
        assert time.monotonic() < deadline, export["progress"]
        time.sleep(0.2)
    assert export["status"] == "completed", export["error"]
    assert export["result"]["row_count"] == ROWS
    assert export["progress"]["rows_done"] == export["progress"]["rows_total"] == ROWS
    download = httpx.get(f"{live.url}/v1/exports/{export_id}/download", headers=headers)
    assert download.status_code == 200
    assert len(download.content) == export["result"]["size"]
    rows = csv.reader(io.StringIO(download.text, newline=""))
    assert next(rows) == ["Trade", "Symbol", "P&L"]  # the source's labels
    ids = [int(row[0]) for row in rows]
    assert len(ids) == ROWS
    assert len(set(ids)) == ROWS  # every trade once: nothing lost, nothing twice

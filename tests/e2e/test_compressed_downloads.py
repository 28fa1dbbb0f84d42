"""Compressed exports end to end: ``exportd serve`` and ``exportd worker`` as real
processes; the file is downloaded over HTTP (and by the CLI) as .gz or .zip, typed so,
never as a ``Content-Encoding`` a client would undo, and holds the plain export's rows."""

from __future__ import annotations

import hashlib
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx2
import polars as pl
import pytest

from exportd.db import Database
from exportd.demo.tables import create_demo_tables, seed_trades
from tests.support.live import Live, live_exportd

pytestmark = pytest.mark.slow

ROWS = 2_000


def _seed(db: Database) -> None:
    with db.write() as conn:
        create_demo_tables(conn)
        seed_trades(conn, "bob", ROWS)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    env = {"EXPORTD_EXPORT_BATCH_ROWS": "300"}  # several batches through the compressor
    with live_exportd(tmp_path_factory.mktemp("compressed"), seed=_seed, env=env) as server:
        yield server


def _headers(live: Live) -> dict[str, str]:
    return {"Authorization": f"Bearer {live.token('bob')}"}


def _export(live: Live, fmt: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"source": "trades", "format": fmt}
    if options:
        body["options"] = options
    created = httpx2.post(f"{live.url}/v1/exports", json=body, headers=_headers(live), timeout=30)
    assert created.status_code == 202, created.text
    url = f"{live.url}/v1/exports/{created.json()['id']}"
    deadline = time.monotonic() + 120
    while (export := httpx2.get(url, headers=_headers(live), timeout=30).json())["status"] in {
        "queued",
        "running",
    }:
        assert time.monotonic() < deadline, export
        time.sleep(0.2)
    assert export["status"] == "completed", export
    return dict(export)


def _download(live: Live, export: dict[str, Any], to: Path) -> httpx2.Response:
    got = httpx2.get(
        f"{live.url}/v1/exports/{export['id']}/download", headers=_headers(live), timeout=60
    )
    assert got.status_code == 200, got.text
    to.write_bytes(got.content)
    return got


def test_a_gzipped_csv_downloads_as_csv_gz_and_duckdb_reads_it(live: Live, tmp_path: Path) -> None:
    plain = _export(live, "csv")
    packed = _export(live, "csv", {"compression": "gzip"})
    result = packed["result"]
    assert packed["options"] == {"compression": "gzip"}
    assert result["compression"] == "gzip"
    assert (
        result["filename"]
        == plain["result"]["filename"].replace(plain["id"][:8], packed["id"][:8]) + ".gz"
    )
    got = _download(live, packed, tmp_path / result["filename"])
    assert got.headers["content-type"] == "application/gzip"
    assert f'filename="{result["filename"]}"' in got.headers["content-disposition"]
    assert "content-encoding" not in got.headers  # the file is gzip, not its transfer
    assert hashlib.sha256(got.content).hexdigest() == result["sha256"]
    assert len(got.content) == result["size"] < plain["result"]["size"]
    subprocess.run(["gzip", "-t", str(tmp_path / result["filename"])], check=True)
    _download(live, plain, tmp_path / "plain.csv")
    query = "SELECT * FROM read_csv('{}') ORDER BY \"Trade\""
    rows = duckdb.sql(query.format(tmp_path / result["filename"])).fetchall()
    assert len(rows) == ROWS == result["row_count"]
    assert rows == duckdb.sql(query.format(tmp_path / "plain.csv")).fetchall()


def test_a_zipped_csv_downloads_as_csv_zip_and_polars_reads_it(live: Live, tmp_path: Path) -> None:
    plain = _export(live, "csv")
    packed = _export(live, "csv", {"compression": "zip"})
    result = packed["result"]
    name = result["filename"]
    assert name.endswith(".csv.zip")
    got = _download(live, packed, tmp_path / name)
    assert got.headers["content-type"] == "application/zip"
    assert f'filename="{name}"' in got.headers["content-disposition"]
    tested = subprocess.run(["unzip", "-t", str(tmp_path / name)], capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    with zipfile.ZipFile(tmp_path / name) as archive:
        assert archive.namelist() == [name.removesuffix(".zip")]
        archive.extractall(tmp_path / "out")
    _download(live, plain, tmp_path / "plain.csv")
    read = pl.read_csv(tmp_path / "out" / name.removesuffix(".zip"))
    assert read.height == ROWS
    assert read.sort("Trade").equals(pl.read_csv(tmp_path / "plain.csv").sort("Trade"))


def test_the_cli_asks_for_compression_and_saves_the_zip(live: Live) -> None:
    done = live.run("export", "trades", "-f", "jsonl", "--compression", "zip", "--wait")
    assert done.returncode == 0, done.stderr
    (saved,) = live.tmp.glob("trades-*.jsonl.zip")
    assert f"saved {saved.name}" in done.stdout
    with zipfile.ZipFile(saved) as archive:
        assert archive.testzip() is None
        (member,) = archive.namelist()
        assert member == saved.name.removesuffix(".zip")
        lines = archive.read(member).decode().splitlines()
    assert len(lines) == ROWS
    assert lines[0].startswith('{"id":')


def test_the_cli_names_the_flag_of_a_refused_compression(live: Live) -> None:
    done = live.run("export", "trades", "-f", "xlsx", "--compression", "gzip")
    assert done.returncode == 1
    assert "option_not_applicable" in done.stderr
    assert "--compression" in done.stderr

"""`exportd export` and `exportd exports …` against a live server and worker started by
the test: real processes, real exit codes, the file on disk."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from exportd.auth.tokens import mint
from exportd.config import jwt_key, load_settings
from exportd.db import create_database
from exportd.db.migrate import upgrade
from exportd.demo.tables import create_demo_tables, seed_trades
from tests.support.mail import free_port

pytestmark = pytest.mark.slow


@dataclass
class Live:
    url: str
    env: dict[str, str]
    tmp: Path

    def token(self, user: str, plan: str = "pro") -> str:
        return mint(user, secret=jwt_key(load_settings()), plan=plan)

    def run(self, *args: str, user: str | None = "bob") -> subprocess.CompletedProcess[str]:
        env = {**self.env, "EXPORTD_URL": self.url, "COLUMNS": "200"}
        if user:
            env["EXPORTD_TOKEN"] = self.token(user)
        return subprocess.run(
            [sys.executable, "-m", "exportd", *args],
            env=env,
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=120,
        )


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("live")
    database = f"sqlite:///{tmp / 'live.db'}"
    env = {
        **os.environ,
        "EXPORTD_DATABASE_URL": database,
        "EXPORTD_STORAGE_URL": f"file://{tmp / 'files'}",
        "EXPORTD_SOURCE_MODULES": '["exportd.demo.sources:demo_sources"]',
        "EXPORTD_LOG_FORMAT": "json",
        "EXPORTD_POLL_INTERVAL_S": "0.2",
    }
    db = create_database(load_settings(database_url=database))
    upgrade(db)
    with db.write() as conn:
        create_demo_tables(conn)
        seed_trades(conn, "bob", 2_000)
    db.dispose()
    port = free_port()
    logs = (tmp / "server.log").open("w"), (tmp / "worker.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "exportd", "serve", "--port", str(port)],
        env=env,
        stdout=logs[0],
        stderr=subprocess.STDOUT,
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "exportd", "worker", "--concurrency", "2"],
        env=env,
        stdout=logs[1],
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    try:
        yield Live(url, env, tmp)
    finally:
        for process in (server, worker):
            process.terminate()
            process.wait(timeout=30)
        for log in logs:
            log.close()


def test_export_waits_shows_progress_and_saves_the_file(live: Live) -> None:
    done = live.run(
        "export",
        "trades",
        "-f",
        "csv",
        "-p",
        "symbol=AAPL",
        "--columns",
        "symbol,pnl:P&L",
        "--out",
        "aapl.csv",
    )
    assert done.returncode == 0, done.stderr
    assert "completed" in done.stderr  # the progress line's last state
    assert "saved aapl.csv" in done.stdout
    rows = list(csv.reader(io.StringIO((live.tmp / "aapl.csv").read_text())))
    assert rows[0] == ["symbol", "P&L"]
    assert len(rows) > 1
    assert {row[0] for row in rows[1:]} == {"AAPL"}
    assert not list(live.tmp.glob("*.part"))


def test_a_refused_request_exits_1_naming_the_field(live: Live) -> None:
    done = live.run("export", "trades", "-p", "direction=sideways", "--wait")
    assert done.returncode == 1
    assert "params_invalid" in done.stderr
    assert "params.direction" in done.stderr


def test_a_failed_export_exits_1_with_its_reason(live: Live) -> None:
    done = live.run("export", "resume", "-f", "pdf", "--wait", user="nobody")
    assert done.returncode == 1
    assert "there is no default document (document_not_found)" in done.stderr


def test_exports_list_show_and_download(live: Live) -> None:
    created = live.run("export", "trades", "-f", "jsonl", "-p", "limit=5")
    assert created.returncode == 0, created.stderr
    export_id, status = created.stdout.split()
    assert status == "queued"
    deadline = time.monotonic() + 60
    while '"completed"' not in live.run("exports", "show", export_id).stdout:
        assert time.monotonic() < deadline
        time.sleep(0.3)
    listed = live.run("exports", "list")
    assert export_id in listed.stdout
    saved = live.run("exports", "download", export_id, "--out", "five.jsonl")
    assert saved.returncode == 0, saved.stderr
    assert len((live.tmp / "five.jsonl").read_text().splitlines()) == 5
    assert live.run("exports", "show", "no-such-export").returncode == 1


def test_no_token_is_a_usage_error(live: Live) -> None:
    done = live.run("exports", "list", user=None)
    assert done.returncode == 2
    assert "EXPORTD_TOKEN" in done.stderr

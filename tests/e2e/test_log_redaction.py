"""A one-time download link is a credential: its token never reaches a log line.

A real ``exportd serve`` (uvicorn's access and error logs, exportd's own JSON events)
serves a link, the same link again (used), a forged one, and a link while the database
is locked (an error event that names the path); then the server's output is searched.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from exportd.db import Database
from exportd.demo.tables import create_demo_tables, seed_trades
from tests.support.live import Live, live_exportd

pytestmark = pytest.mark.slow

REDACTED_DOWNLOAD = "/v1/downloads/[redacted]"


def _seed(db: Database) -> None:
    with db.write() as conn:
        create_demo_tables(conn)
        seed_trades(conn, "bob", 50)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    # A short busy timeout: the locked-database request fails fast.
    env = {"EXPORTD_SQLITE_BUSY_TIMEOUT_MS": "300"}
    with live_exportd(tmp_path, seed=_seed, env=env) as server:
        yield server


def _completed_export(client: httpx.Client) -> str:
    created = client.post("/v1/exports", json={"source": "trades", "format": "csv"})
    assert created.status_code == 202, created.text
    export_id = str(created.json()["id"])
    deadline = time.monotonic() + 60
    while client.get(f"/v1/exports/{export_id}").json()["status"] != "completed":
        assert time.monotonic() < deadline, "the export did not complete"
        time.sleep(0.2)
    return export_id


def _link(client: httpx.Client, export_id: str) -> str:
    issued = client.post(f"/v1/exports/{export_id}/download-token")
    assert issued.status_code == 201, issued.text
    url = str(issued.json()["url"])
    assert url.startswith("/v1/downloads/")
    return url


def test_download_tokens_never_reach_the_logs(live: Live) -> None:
    headers = {"Authorization": f"Bearer {live.token('bob')}"}
    tokens: list[str] = []
    with httpx.Client(base_url=live.url, headers=headers, timeout=30) as client:
        export_id = _completed_export(client)
        first, second = _link(client, export_id), _link(client, export_id)
        tokens += [first.rpartition("/")[2], second.rpartition("/")[2]]

        with httpx.Client(base_url=live.url, timeout=30) as anonymous:
            assert anonymous.get(first).status_code == 200
            used = anonymous.get(first)
            assert used.status_code == 410
            assert used.json()["instance"] == REDACTED_DOWNLOAD  # the body too
            forged = "forged-id.9999999999.c2lnbmF0dXJl"
            tokens.append(forged)
            refused = anonymous.get(f"/v1/downloads/{forged}")
            assert refused.status_code == 403
            assert refused.json()["instance"] == REDACTED_DOWNLOAD

            # While another writer holds the lock, redeeming fails: exportd logs an
            # error event with the request's path.
            holder = sqlite3.connect(live.database_url.removeprefix("sqlite:///"))
            holder.isolation_level = None
            holder.execute("BEGIN EXCLUSIVE")
            try:
                locked = anonymous.get(second)
            finally:
                holder.execute("ROLLBACK")
                holder.close()
            assert locked.status_code == 503, locked.text
            assert anonymous.get(second).status_code == 200  # unused, and good after

    time.sleep(0.5)  # let the server write its last lines
    logs = (live.tmp / "server.log").read_text()
    for token in tokens:
        assert token not in logs
        assert token.split(".")[-1] not in logs  # not even the signature alone
    # uvicorn's access lines and exportd's event, with the token replaced.
    assert f'"GET {REDACTED_DOWNLOAD} HTTP/1.1" 200' in logs
    assert f'"GET {REDACTED_DOWNLOAD} HTTP/1.1" 403' in logs
    assert f'"path": "{REDACTED_DOWNLOAD}"' in logs  # api.database_unavailable

"""docs/connections.md's worked example, end to end: exportd on its embedded SQLite queue
exports orders from a MariaDB shop database and a PostgreSQL replica through named
connections, in every format, with progress, the plan's row limit and cancellation;
an unreachable connection fails retryable; no password reaches a log or an answer."""

from __future__ import annotations

import csv
import io
import json
import time
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import psycopg
import pyarrow.parquet as pq
import pytest
from openpyxl import load_workbook

from tests.support.databases import fresh_pg_database, require_postgres
from tests.support.doc_blocks import blocks
from tests.support.live import Live, live_exportd
from tests.support.mariadb import fresh_mysql_database, mysql_execute, require_mysql
from tests.support.shop import ORDERS_DDL, as_params, insert_sql, order_rows

pytestmark = [pytest.mark.slow, pytest.mark.mysql, pytest.mark.postgres]

SHOP_PASSWORD = f"shop-pw-{uuid.uuid4().hex[:10]}"
REPLICA_PASSWORD = f"replica-pw-{uuid.uuid4().hex[:10]}"
ROWS = order_rows({"acme": 1500, "globex": 400})
BIG = 300_000  # bigco's orders, in MariaDB only: long enough an export to cancel
FORMATS = ["csv", "jsonl", "json", "xlsx", "parquet"]
SOURCES = ["shop_orders", "replica_orders"]


def example_config() -> str:
    [block] = [b for b in blocks() if b.page == "docs/connections.md" and b.lang == "toml"]
    return block.text


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    require_mysql()
    require_postgres()
    tmp = tmp_path_factory.mktemp("connections")
    with fresh_mysql_database() as shop, fresh_pg_database(migrated=False) as replica:
        reader = f"reader_{uuid.uuid4().hex[:8]}"
        mysql_execute(
            shop,
            ORDERS_DDL["mysql"],
            f"CREATE USER '{reader}'@'%' IDENTIFIED BY '{SHOP_PASSWORD}'",
            f"GRANT SELECT ON `{shop}`.* TO '{reader}'@'%'",
        )
        _fill_mysql(shop)
        with psycopg.connect(replica) as conn:
            conn.execute(ORDERS_DDL["postgresql"])
            with conn.cursor() as cursor:
                cursor.executemany(
                    insert_sql("postgresql"), [as_params(r, "postgresql") for r in ROWS]
                )
        config = tmp / "exportd.toml"
        config.write_text(example_config())  # the page's file as it is
        # Only the hosts differ from the page: the environment's keys win, by name.
        urls = {
            "shop": {"url": f"mariadb://{reader}@127.0.0.1:3306/{shop}"},
            "replica": {"url": replica},
        }
        env = {
            "EXPORTD_CONFIG": str(config),
            "EXPORTD_CONNECTIONS": json.dumps(urls),
            "SHOP_DB_PASSWORD": SHOP_PASSWORD,
            "REPLICA_DB_PASSWORD": REPLICA_PASSWORD,  # trust auth here: sent, never shown
            "EXPORTD_SOURCE_MODULES": "[]",
        }
        try:
            with live_exportd(tmp, env=env) as server:
                yield server
        finally:
            mysql_execute(None, f"DROP USER IF EXISTS '{reader}'@'%'")


def _fill_mysql(database: str) -> None:
    import pymysql

    conn = pymysql.connect(host="127.0.0.1", user="root", password="", database=database)
    try:
        with conn.cursor() as cursor:
            cursor.executemany(insert_sql("mysql"), [as_params(r, "mysql") for r in ROWS])
            cursor.execute(
                "INSERT INTO orders SELECT 1000000 + seq, 'bigco', CONCAT('customer ', seq % 97), "
                "(seq % 5000) / 4, seq % 7, seq % 2, "
                "TIMESTAMP('2026-01-01') + INTERVAL seq SECOND, "
                f"NULL FROM seq_1_to_{BIG}"
            )
        conn.commit()
    finally:
        conn.close()


def headers(live: Live, user: str, plan: str = "pro") -> dict[str, str]:
    return {"Authorization": f"Bearer {live.token(user, plan=plan)}"}


def create(live: Live, user: str, body: dict[str, Any], plan: str = "pro") -> str:
    created = httpx.post(f"{live.url}/v1/exports", headers=headers(live, user, plan), json=body)
    assert created.status_code == 202, created.text
    return str(created.json()["id"])


def wait(live: Live, user: str, export_id: str, plan: str = "pro") -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        export: dict[str, Any] = httpx.get(
            f"{live.url}/v1/exports/{export_id}", headers=headers(live, user, plan)
        ).json()
        if export["status"] not in ("queued", "running"):
            return export
        assert time.monotonic() < deadline, export
        time.sleep(0.2)


def ids_in(fmt: str, data: bytes) -> list[int]:
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
        assert rows[0][:3] == ["Order", "customer", "total"]
        return [int(row[0]) for row in rows[1:]]
    if fmt == "jsonl":
        return [json.loads(line)["id"] for line in data.decode().splitlines()]
    if fmt == "json":
        return [row["id"] for row in json.loads(data)]
    if fmt == "parquet":
        return [int(v) for v in pq.read_table(io.BytesIO(data)).column("id").to_pylist()]
    sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    values = [row[0] for row in sheet.iter_rows(values_only=True)]
    return [int(v) for v in values[1:] if v is not None]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("source", SOURCES)
def test_orders_export_through_each_connection_in_every_format(
    live: Live, source: str, fmt: str
) -> None:
    export_id = create(
        live, "acme", {"source": source, "format": fmt, "params": {"min_total": 100}}
    )
    export = wait(live, "acme", export_id)
    assert export["status"] == "completed", export["error"]
    expected = [r["id"] for r in ROWS if r["owner_id"] == "acme" and r["total"] >= 100]
    assert export["result"]["row_count"] == len(expected) > 1000
    assert export["progress"]["rows_done"] == export["progress"]["rows_total"] == len(expected)
    data = httpx.get(
        f"{live.url}/v1/exports/{export_id}/download", headers=headers(live, "acme")
    ).content
    assert ids_in(fmt, data) == expected  # the owner's rows only, in order


def test_the_plans_row_limit_holds(live: Live) -> None:
    done = live.run("plans", "set", "tiny", "--max-rows", "100", user=None)
    assert done.returncode == 0, done.stderr
    for source in SOURCES:
        export_id = create(live, "acme", {"source": source, "format": "csv"}, plan="tiny")
        export = wait(live, "acme", export_id, plan="tiny")
        assert export["status"] == "failed"
        assert export["error"]["code"] == "row_limit_exceeded", export["error"]


def test_an_export_is_cancelled_while_it_reads(live: Live) -> None:
    export_id = create(live, "bigco", {"source": "shop_orders", "format": "xlsx"})
    deadline = time.monotonic() + 60
    while True:
        export = httpx.get(
            f"{live.url}/v1/exports/{export_id}", headers=headers(live, "bigco")
        ).json()
        if (export.get("progress") or {}).get("rows_done"):
            break
        assert export["status"] in ("queued", "running"), export
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert export["progress"]["rows_total"] == BIG
    cancelled = httpx.post(
        f"{live.url}/v1/exports/{export_id}/cancel", headers=headers(live, "bigco")
    )
    assert cancelled.status_code in (200, 202), cancelled.text
    assert wait(live, "bigco", export_id)["status"] == "cancelled"


def test_no_password_reaches_a_log_or_an_answer(live: Live) -> None:
    export_id = create(live, "acme", {"source": "shop_orders", "format": "csv"})
    body = httpx.get(f"{live.url}/v1/exports/{export_id}", headers=headers(live, "acme")).text
    wait(live, "acme", export_id)
    ready = httpx.get(f"{live.url}/readyz")
    assert ready.json()["connections"] == {"shop": "ok", "replica": "ok"}
    checked = live.run("connections", "check", user=None)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    shown = [
        body,
        ready.text,
        checked.stdout + checked.stderr,
        (live.tmp / "server.log").read_text(),
        (live.tmp / "worker.log").read_text(),
    ]
    for text in shown:
        assert SHOP_PASSWORD not in text
        assert REPLICA_PASSWORD not in text


def test_an_unreachable_connection_fails_the_export_retryable(tmp_path: Path) -> None:
    secret = f"down-pw-{uuid.uuid4().hex[:10]}"
    config = tomllib.loads(example_config())
    source = {**config["sql_sources"][0], "connection": "down"}
    env = {
        "EXPORTD_CONNECTIONS": json.dumps(
            {"down": {"url": f"mysql://app:{secret}@127.0.0.1:1/shop", "connect_timeout_s": 1}}
        ),
        "EXPORTD_SQL_SOURCES": json.dumps([source]),
        "EXPORTD_SOURCE_MODULES": "[]",
        "EXPORTD_JOB_ATTEMPTS": "2",
        "EXPORTD_JOB_BACKOFF_MS": "0",
    }
    with live_exportd(tmp_path, env=env) as server:
        export_id = create(server, "acme", {"source": "shop_orders", "format": "csv"})
        export = wait(server, "acme", export_id)
        body = httpx.get(
            f"{server.url}/v1/exports/{export_id}", headers=headers(server, "acme")
        ).text
    assert export["status"] == "failed"
    assert export["error"]["code"] == "connection_unavailable"
    assert export["error"]["retryable"] is True
    assert "connection 'down' is unavailable" in export["error"]["message"]
    logs = (tmp_path / "server.log").read_text() + (tmp_path / "worker.log").read_text()
    for text in (body, logs):
        assert secret not in text

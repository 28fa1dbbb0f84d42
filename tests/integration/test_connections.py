"""Named data connections: sources reading the host application's own MariaDB,
PostgreSQL and SQLite databases through ``[connections.NAME]``, with the database
itself refusing writes, stopping long statements and reading one snapshot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import String, column, literal_column, select, table, text
from sqlalchemy.exc import DBAPIError

from exportd.api.app import create_app
from exportd.config import ConnectionSpec, load_settings
from exportd.errors import ConfigError, RetryableJobError, TerminalJobError, classify
from exportd.sources.base import ColumnSpec
from exportd.sources.connections import DataConnection
from exportd.sources.loading import load_sources
from exportd.sources.query import ARROW_FETCH_OPTION, QuerySource
from tests.support.databases import migrated_sqlite
from tests.support.shop import order_rows, orders_source
from tests.support.shop_databases import ENGINES, shop_database

ROWS = order_rows({"acme": 300, "globex": 120})
ENGINE_PARAMS = [
    pytest.param("mysql", marks=pytest.mark.mysql),
    pytest.param("postgresql", marks=pytest.mark.postgres),
    "sqlite",
]
assert [p if isinstance(p, str) else p.values[0] for p in ENGINE_PARAMS] == ENGINES


@pytest.fixture(params=ENGINE_PARAMS)
def shop(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with shop_database(request.param, ROWS, tmp_path) as url:
        yield url


def connection(url: str, **spec: Any) -> DataConnection:
    return DataConnection("shop", ConnectionSpec.model_validate({"url": url, **spec}), {})


def read_all(conn_: DataConnection, owner: str, *, arrow: bool, **params: Any) -> pa.Table:
    source = load_sources([], [orders_source("orders", "shop")], {"shop": conn_.spec}).get("orders")
    assert isinstance(source, QuerySource)
    values = source.params_model.model_validate(params)
    names = source.column_names()
    with conn_.read() as conn:
        conn.execution_options(**{ARROW_FETCH_OPTION: arrow})
        count = source.count(conn, owner, values)
        batches = list(source.batches(conn, owner, values, names, batch_size=64))
    found = pa.Table.from_batches(batches, schema=source.arrow_schema(names))
    assert found.num_rows == count
    return found


@pytest.mark.parametrize("arrow", [True, False])
def test_a_source_reads_its_owners_rows_through_its_connection(shop: str, arrow: bool) -> None:
    conn = connection(shop)
    try:
        found = read_all(conn, "acme", arrow=arrow, min_total=100)
    finally:
        conn.dispose()
    expected = [r for r in ROWS if r["owner_id"] == "acme" and r["total"] >= 100]
    assert found.num_rows == len(expected) > 100
    rows = found.to_pylist()
    assert [r["id"] for r in rows] == [r["id"] for r in expected]
    for got, want in zip(rows, expected, strict=True):
        assert got["total"] == float(want["total"])
        assert got["paid"] is want["paid"]
        assert got["placed_at"] == want["placed_at"]  # UTC on every engine
        assert (got["customer"], got["note"], got["qty"]) == (
            want["customer"],
            want["note"],
            want["qty"],
        )


WRITES = {
    "mysql": "UPDATE orders SET qty = qty + 1 WHERE id = 1",
    "postgresql": "UPDATE orders SET qty = qty + 1 WHERE id = 1",
    "sqlite": "UPDATE orders SET qty = qty + 1 WHERE id = 1",
}
REFUSALS = {
    "mysql": "READ ONLY transaction",  # ERROR 1792
    "postgresql": "read-only transaction",
    "sqlite": "readonly database",
}


def test_a_write_through_a_read_only_connection_is_refused_by_the_database(shop: str) -> None:
    conn_ = connection(shop)
    engine = conn_.spec.engine
    try:
        # In an export's snapshot, and on a bare session outside it: both refused.
        with pytest.raises(DBAPIError, match=REFUSALS[engine]), conn_.read() as conn:
            conn.execute(text(WRITES[engine]))
        with pytest.raises(DBAPIError, match=REFUSALS[engine]), conn_.engine().begin() as conn:
            conn.execute(text(WRITES[engine]))
    finally:
        conn_.dispose()
    writable = connection(shop, read_only=False)
    try:
        with writable.engine().begin() as conn:  # the same statement, where writes are allowed
            assert conn.execute(text(WRITES[engine])).rowcount == 1
    finally:
        writable.dispose()


SLOW = {
    "mysql": "SELECT id FROM orders WHERE owner_id = :owner_id AND SLEEP(0.01) = 0",
    "postgresql": "SELECT id FROM orders WHERE owner_id = :owner_id AND pg_sleep(0.01) IS NOT NULL",
}


@pytest.mark.parametrize("arrow", [True, False])
@pytest.mark.parametrize(
    "engine",
    [
        pytest.param("mysql", marks=pytest.mark.mysql),
        pytest.param("postgresql", marks=pytest.mark.postgres),
    ],
)
def test_a_statement_past_the_timeout_is_stopped_by_the_database(
    engine: str, arrow: bool, tmp_path: Path
) -> None:
    spec = {
        "name": "slow",
        "title": "Slow",
        "connection": "shop",
        "sql": SLOW[engine],
        "columns": [{"name": "id", "type": "integer"}],
    }
    with shop_database(engine, ROWS, tmp_path) as url:
        conn_ = connection(url, statement_timeout_s=0.5)  # 300 rows x 10 ms: 3 s
        source = load_sources([], [spec], {"shop": conn_.spec}).get("slow")
        assert isinstance(source, QuerySource)
        params = source.params_model()
        try:
            with conn_.read() as conn:
                conn.execution_options(**{ARROW_FETCH_OPTION: arrow})
                with pytest.raises(Exception) as raised:  # noqa: PT011 - the driver's kind
                    list(source.batches(conn, "acme", params, ["id"], batch_size=50))
        finally:
            conn_.dispose()
    failure = conn_.translated(raised.value)
    assert isinstance(failure, TerminalJobError), raised.value
    assert failure.code == "statement_timeout"
    assert "0.5 s" in failure.message


@pytest.mark.mysql
@pytest.mark.postgres
def test_one_export_reads_one_snapshot(tmp_path: Path) -> None:
    """Rows committed by the host application while an export reads are not in it."""
    for engine in ("mysql", "postgresql"):
        with shop_database(engine, ROWS, tmp_path) as url:
            conn_ = connection(url)
            writer = connection(url, read_only=False)
            try:
                with conn_.read() as conn:
                    before = conn.execute(text("SELECT COUNT(*) FROM orders")).scalar_one()
                    with writer.engine().begin() as other:
                        other.execute(text("DELETE FROM orders WHERE owner_id = 'globex'"))
                    again = conn.execute(text("SELECT COUNT(*) FROM orders")).scalar_one()
                assert before == again == len(ROWS), engine
                with conn_.read() as conn:
                    after = conn.execute(text("SELECT COUNT(*) FROM orders")).scalar_one()
                assert after == 300, engine
            finally:
                conn_.dispose()
                writer.dispose()


def test_an_unreachable_connection_fails_retryable_without_its_password() -> None:
    secret = "pw-Zx81-never-shown"
    for url, env in [
        (f"mysql://app:{secret}@127.0.0.1:1/shop", {}),
        ("postgresql://app@127.0.0.1:1/shop", {"SHOP_PASSWORD": secret}),
    ]:
        spec = ConnectionSpec.model_validate(
            {"url": url, "password_env": "SHOP_PASSWORD" if env else None, "connect_timeout_s": 2}
        )
        conn_ = DataConnection("shop", spec, env)
        with pytest.raises(RetryableJobError) as raised, conn_.read():
            pass
        info = classify(raised.value)
        assert (info.code, info.retryable) == ("connection_unavailable", True)
        assert "connection 'shop' is unavailable" in info.message
        assert secret not in info.message
        assert secret not in repr(spec)
        assert secret not in str(spec.model_dump())
        status = conn_.check()
        assert status.startswith("unavailable: ")
        assert secret not in status
        conn_.dispose()


def test_connections_come_from_the_config_file_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "exportd.toml"
    config.write_text(
        '[connections.shop]\nurl = "mysql://reader@db.internal/shop"\n'
        'password_env = "SHOP_DB_PASSWORD"\nstatement_timeout_s = 30\npool_size = 4\n'
    )
    monkeypatch.setenv("EXPORTD_CONFIG", str(config))
    settings = load_settings()
    shop = settings.connections["shop"]
    assert (shop.engine, shop.read_only, shop.statement_timeout_s, shop.pool_size) == (
        "mysql",
        True,
        30,
        4,
    )
    monkeypatch.setenv(
        "EXPORTD_CONNECTIONS",
        json.dumps({"replica": {"url": "postgresql://ro@replica/app"}, "shop": {"pool_size": 8}}),
    )
    merged = load_settings().connections  # merged by name; the environment's keys win
    assert sorted(merged) == ["replica", "shop"]
    assert (merged["shop"].pool_size, merged["shop"].password_env) == (8, "SHOP_DB_PASSWORD")
    assert merged["replica"].engine == "postgresql"
    monkeypatch.setenv("EXPORTD_CONNECTIONS", json.dumps({"x": {"url": "oracle://db/x"}}))
    with pytest.raises(ConfigError, match=r"EXPORTD_CONNECTIONS \(x.url\).*mysql://"):
        load_settings()
    monkeypatch.setenv("EXPORTD_CONNECTIONS", json.dumps({"Bad-Name": {"url": "sqlite:///x"}}))
    with pytest.raises(ConfigError, match="connection names are lower-case identifiers"):
        load_settings()
    monkeypatch.setenv("EXPORTD_CONNECTIONS", json.dumps({"x": {"url": "sqlite:///x", "y": 1}}))
    with pytest.raises(ConfigError, match=r"EXPORTD_CONNECTIONS \(x.y\)"):
        load_settings()


def test_a_password_in_the_url_and_password_env_are_refused_together(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "in-url-pw-5150"
    url = f"mariadb://reader:{secret}@127.0.0.1/shop"
    monkeypatch.setenv("SHOP_PW", "x")
    monkeypatch.setenv(
        "EXPORTD_CONNECTIONS", json.dumps({"shop": {"url": url, "password_env": "SHOP_PW"}})
    )
    with pytest.raises(ConfigError, match="password_env names another: keep one") as raised:
        load_settings()
    assert secret not in raised.value.message
    alone = ConnectionSpec.model_validate({"url": url})  # either one alone is fine
    assert alone.password_env is None


def test_a_source_on_an_unknown_connection_stops_the_start_naming_both() -> None:
    spec = orders_source("orders", "warehouse")
    with pytest.raises(ConfigError) as raised:
        load_sources([], [spec], {"shop": ConnectionSpec.model_validate({"url": "sqlite:///x"})})
    assert "source 'orders' reads connection 'warehouse', which is not configured" in str(
        raised.value.message
    )
    assert "configured: shop" in raised.value.message


def test_a_connections_password_variable_must_be_set_at_start() -> None:
    spec = ConnectionSpec.model_validate({"url": "mysql://r@h/s", "password_env": "NOPE_PW_X"})
    with pytest.raises(ConfigError, match=r"NOPE_PW_X \(password_env\) is not set"):
        load_sources([], [orders_source("orders", "shop")], {"shop": spec})


class _Params(BaseModel):
    pass


_ORDERS = table("orders", column("id"), column("owner_id", String()))


def _plugin(name: str, query: Any) -> QuerySource:
    return QuerySource(
        name=name,
        title="Orders",
        params_model=_Params,
        columns=(ColumnSpec("id", "integer", "Order"),),
        query=query,
        connection="shop",
    )


def unscoped_plugin() -> list[QuerySource]:
    return [_plugin("unscoped", lambda owner_id, params: select(_ORDERS.c.id))]


def inlined_plugin() -> list[QuerySource]:  # the owner in the text, not bound: refused too
    return [
        _plugin(
            "inlined",
            lambda owner_id, params: select(_ORDERS.c.id).where(
                literal_column(f"owner_id = '{owner_id}'")
            ),
        )
    ]


def scoped_plugin() -> list[QuerySource]:
    return [
        _plugin(
            "scoped",
            lambda owner_id, params: select(_ORDERS.c.id).where(_ORDERS.c.owner_id == owner_id),
        )
    ]


def test_a_plugin_query_on_a_connection_must_bind_the_owner() -> None:
    specs = {"shop": ConnectionSpec.model_validate({"url": "sqlite:///x.db"})}
    here = __name__
    for plugin in ("unscoped_plugin", "inlined_plugin"):
        with pytest.raises(ConfigError, match="on connection 'shop': its query must bind"):
            load_sources([f"{here}:{plugin}"], [], specs)
    scoped = load_sources([f"{here}:scoped_plugin"], [], specs).get("scoped")
    assert isinstance(scoped, QuerySource)
    assert scoped.query("acme", _Params()) is not None
    # Checked at each export too, for a query the start could not build.
    with pytest.raises(TerminalJobError, match="does not bind the owner"):
        unscoped_plugin()[0].query("acme", _Params())


@pytest.mark.mysql
def test_readyz_and_the_cli_report_each_connection(tmp_path: Path) -> None:
    """An answering connection is ``ok``, an unreachable one says why (without its
    password); exportd itself stays ready: only that connection's exports wait."""
    secret = "pw-readyz-Q7-never-shown"
    with shop_database("mysql", ROWS[:10], tmp_path) as shop:
        connections = {
            "shop": {"url": shop},
            "replica": {"url": f"postgresql://ro:{secret}@127.0.0.1:1/app", "connect_timeout_s": 1},
        }
        db_url = migrated_sqlite(tmp_path / "exportd.db")
        settings = load_settings(
            database_url=db_url,
            storage_url=f"file://{tmp_path / 'files'}",
            connections=connections,
        )
        with TestClient(create_app(settings)) as client:
            ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert body["connections"]["shop"] == "ok"
        assert body["connections"]["replica"].startswith("unavailable: ")
        assert secret not in ready.text
        env = {
            **os.environ,
            "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"),
            "EXPORTD_DATABASE_URL": db_url,
            "EXPORTD_CONNECTIONS": json.dumps(connections),
            "COLUMNS": "200",
        }
        checked = subprocess.run(
            [sys.executable, "-m", "exportd", "connections", "check"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert checked.returncode == 1, checked.stderr
    lines = {line.split()[0]: line for line in checked.stdout.splitlines() if line.strip()}
    assert lines["shop"].split() == ["shop", "mysql", "read-only", "ok"]
    assert "unavailable:" in lines["replica"]
    assert secret not in checked.stdout + checked.stderr


def test_an_unknown_connection_stops_the_worker_and_the_server(tmp_path: Path) -> None:
    config = tmp_path / "exportd.toml"
    config.write_text(
        "[connections.shop]\n"
        f'url = "sqlite:///{tmp_path}/shop.db"\n\n'
        "[[sql_sources]]\n"
        'name = "orders"\ntitle = "Orders"\nconnection = "warehouse"\n'
        'sql = "SELECT id FROM orders WHERE owner_id = :owner_id"\n'
        'columns = [{name = "id", type = "integer"}]\n'
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"),
        "EXPORTD_CONFIG": str(config),
        "EXPORTD_DATABASE_URL": f"sqlite:///{tmp_path}/exportd.db",
    }
    for command in (["worker"], ["serve", "--port", "0"]):
        started = subprocess.run(
            [sys.executable, "-m", "exportd", *command],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert started.returncode == 2, started.stderr
        assert "source 'orders' reads connection 'warehouse', which is not configured" in (
            " ".join(started.stderr.split())
        )


def test_a_pool_of_one_still_counts_alongside_the_read(tmp_path: Path) -> None:
    """The count's connection is opened beside the read's rather than waited for."""
    with shop_database("sqlite", ROWS, tmp_path) as url:
        conn_ = connection(url, pool_size=1)
        try:
            with conn_.read() as reading:
                reading.execute(text("SELECT 1"))
                started = time.monotonic()
                with conn_.read() as counting:
                    assert counting.execute(text("SELECT COUNT(*) FROM orders")).scalar_one()
                assert time.monotonic() - started < 5
        finally:
            conn_.dispose()

"""Declarative SQL sources from the config: scoped to the owner, params typed and
validated, unsafe specs refused at start; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select

from exportd.api.app import create_app
from exportd.config import Settings
from exportd.db import Database
from exportd.demo.tables import create_demo_tables, demo_trades, seed_trades
from exportd.errors import ConfigError
from exportd.sources.loading import load_sources
from tests.support.api import Api

BIG_WINS: dict[str, Any] = {
    "name": "big_wins",
    "title": "Big wins",
    "sql": "SELECT symbol, pnl, closed_at FROM demo_trades "
    "WHERE owner_id = :owner_id AND pnl >= :min_pnl "
    "AND (:symbol IS NULL OR symbol = :symbol) ORDER BY pnl DESC, id",
    "columns": [
        {"name": "symbol"},
        {"name": "pnl", "type": "number", "label": "P&L"},
        {"name": "closed_at", "type": "datetime"},
    ],
    "params": [
        {"name": "min_pnl", "type": "number", "required": True},
        {"name": "symbol"},
    ],
}


@pytest.fixture
def journal(db: Database) -> Database:
    with db.write() as conn:
        create_demo_tables(conn)
        seed_trades(conn, "bob", 600)
        seed_trades(conn, "eve", 600)
    return db


def test_a_sql_source_is_scoped_typed_and_ordered(journal: Database) -> None:
    source = load_sources([], [BIG_WINS]).get("big_wins")
    assert source is not None
    params = source.params_model.model_validate({"min_pnl": "500", "symbol": "NVDA"})
    with journal.read() as conn:
        expected = (
            conn.execute(
                select(demo_trades.c.pnl).where(
                    demo_trades.c.owner_id == "bob",
                    demo_trades.c.pnl >= 500,
                    demo_trades.c.symbol == "NVDA",
                )
            )
            .scalars()
            .all()
        )
        rows = [
            row
            for batch in source.batches(
                conn, "bob", params, ["pnl", "closed_at", "symbol"], batch_size=4
            )
            for row in batch.to_pylist()
        ]
        assert source.count(conn, "bob", params) == len(rows) == len(expected) > 0
    assert [r["pnl"] for r in rows] == sorted(expected, reverse=True)
    assert {r["symbol"] for r in rows} == {"NVDA"}
    assert rows[0]["closed_at"].tzinfo is not None


def test_unset_optional_params_bind_null(journal: Database) -> None:
    source = load_sources([], [BIG_WINS]).get("big_wins")
    assert source is not None
    params = source.params_model.model_validate({"min_pnl": 900})
    with journal.read() as conn:
        assert source.count(conn, "eve", params) > 0


def test_unset_optional_params_of_every_type_bind_typed_nulls(journal: Database) -> None:
    # PostgreSQL must know each NULL's type to run ``:p IS NULL`` (psycopg sends none).
    optional = {
        "integer": "quantity",
        "number": "pnl",
        "boolean": "(pnl > 0)",
        "string": "symbol",
        "date": "CAST(closed_at AS DATE)",
    }
    clauses = " ".join(f"AND (:p_{t} IS NULL OR {e} = :p_{t})" for t, e in optional.items())
    spec = {
        **BIG_WINS,
        "sql": f"SELECT symbol, pnl, closed_at FROM demo_trades WHERE owner_id = :owner_id "
        f"AND pnl >= :min_pnl {clauses} ORDER BY id",
        "params": [BIG_WINS["params"][0], *({"name": f"p_{t}", "type": t} for t in optional)],
    }
    source = load_sources([], [spec]).get("big_wins")
    assert source is not None
    params = source.params_model.model_validate({"min_pnl": 900})
    with journal.read() as conn:
        assert source.count(conn, "eve", params) > 0
        assert sum(len(b) for b in source.batches(conn, "eve", params, ["pnl"], batch_size=100)) > 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sql": "SELECT symbol FROM demo_trades"}, "must bind :owner_id"),
        ({"params": []}, "binds undeclared params ['min_pnl', 'symbol']"),
        ({"params": [{"name": "owner_id"}]}, "owner_id is bound by exportd"),
        ({"columns": []}, "columns"),
        ({"name": "Bad Name"}, "name"),
    ],
)
def test_unsafe_or_malformed_specs_are_refused_at_start(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match="sql_sources") as raised:
        load_sources([], [{**BIG_WINS, **change}])
    assert message in raised.value.message


def test_two_sources_of_one_name_are_refused_at_start_naming_the_plugin() -> None:
    demo = "exportd.demo.sources:demo_sources"
    with pytest.raises(ConfigError, match=f"'{demo}': source 'trades' is registered twice"):
        load_sources([demo], [{**BIG_WINS, "name": "trades"}])


def test_the_api_validates_a_sql_sources_params(
    journal: Database, settings: Settings, tmp_path: Path
) -> None:
    config = settings.model_copy(
        update={"sql_sources": [BIG_WINS], "storage_url": f"file://{tmp_path}"}
    )
    with TestClient(create_app(config, db=journal)) as client:
        api = Api(client, config)
        listed = {
            s["name"]: s for s in client.get("/v1/sources", headers=api.as_user("bob")).json()
        }
        assert listed["big_wins"]["params_schema"]["required"] == ["min_pnl"]
        bad = api.create(
            "bob", {"source": "big_wins", "format": "csv", "params": {"min_pnl": "lots"}}
        )
        assert (bad.status_code, bad.json()["code"]) == (422, "params_invalid")
        ok = api.create("bob", {"source": "big_wins", "format": "xlsx", "params": {"min_pnl": 10}})
        assert ok.status_code == 202


@pytest.mark.parametrize("order", [("date_from", "date_to"), ("date_to", "date_from")])
def test_a_sql_sources_date_range_may_not_run_backwards(order: tuple[str, str]) -> None:
    spec = {
        **BIG_WINS,
        "sql": "SELECT symbol, pnl, closed_at FROM demo_trades WHERE owner_id = :owner_id "
        "AND date(closed_at) BETWEEN :date_from AND :date_to",
        "params": [{"name": name, "type": "date", "required": True} for name in order],
    }
    source = load_sources([], [spec]).get("big_wins")
    assert source is not None
    backwards = {"date_from": "2026-03-01", "date_to": "2026-02-01"}
    with pytest.raises(ValidationError) as refused:
        source.params_model.model_validate(backwards)
    [error] = refused.value.errors()
    assert (error["type"], error["loc"]) == ("date_range_invalid", (order[1],))
    one_day = source.params_model.model_validate(
        {"date_from": "2026-02-01", "date_to": "2026-02-01"}
    )
    assert one_day.model_dump() == {"date_from": date(2026, 2, 1), "date_to": date(2026, 2, 1)}
    with pytest.raises(ValidationError, match="extra"):  # still only the declared params
        source.params_model.model_validate({**one_day.model_dump(), "other": 1})

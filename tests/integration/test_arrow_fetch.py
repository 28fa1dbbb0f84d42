"""Rows fetched as Arrow through ADBC: the same batches as the row path, on SQLite and
PostgreSQL, and the row path whenever the Arrow one cannot promise the types."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pydantic import BaseModel
from sqlalchemy import Connection, insert, inspect, text

from exportd.config import load_settings
from exportd.db import Database, create_database
from exportd.demo.sources import (
    DailyPnlParams,
    DailyPnlSource,
    GoalParams,
    GoalsSource,
    TagParams,
    TagPerformanceSource,
    TradeParams,
    TradesSource,
)
from exportd.demo.tables import (
    create_demo_tables,
    demo_trades,
    seed_goals_and_evaluations,
    seed_trades,
)
from exportd.errors import TerminalJobError
from exportd.sources import TabularSource
from exportd.sources.arrow_fetch import arrow_batches
from exportd.sources.loading import load_sources
from exportd.sources.query import ARROW_FETCH_OPTION, QuerySource
from exportd.sources.sql import SqlSourceSpec
from tests.support.trades import trade_row


@pytest.fixture
def journal(db: Database) -> Database:
    with db.write() as conn:
        create_demo_tables(conn)
        seed_trades(conn, "bob", 700)
        seed_trades(conn, "eve", 40)
        seed_goals_and_evaluations(conn, "bob")
    return db


def fetch(
    conn: Connection,
    source: TabularSource,
    params: BaseModel,
    *,
    arrow: bool,
    columns: list[str] | None = None,
) -> pa.Table:
    conn.execution_options(**{ARROW_FETCH_OPTION: arrow})
    names = columns or source.column_names()
    batches = list(source.batches(conn, "bob", params, names, batch_size=64))
    return pa.Table.from_batches(batches, schema=source.arrow_schema(names))


CASES: list[tuple[Any, BaseModel]] = [
    (TradesSource, TradeParams()),
    (
        TradesSource,
        TradeParams(
            date_from=date(2025, 3, 1),
            date_to=date(2025, 9, 30),
            tags=["breakout", "news"],
            direction="long",
        ),
    ),
    (TradesSource, TradeParams(symbol="NVDA", status="closed", limit=25)),
    (DailyPnlSource, DailyPnlParams(date_from=date(2025, 2, 1))),
    (GoalsSource, GoalParams()),
    (TagPerformanceSource, TagParams()),
]


@pytest.mark.parametrize(("make_source", "params"), CASES)
def test_arrow_and_row_fetch_give_the_same_table(
    journal: Database, make_source: Any, params: BaseModel
) -> None:
    source = make_source()
    with journal.read() as conn:
        by_rows = fetch(conn, source, params, arrow=False)
        by_arrow = fetch(conn, source, params, arrow=True)
    assert by_arrow.num_rows == by_rows.num_rows > 0
    assert by_arrow.equals(by_rows)


def test_the_trades_query_takes_the_arrow_path_on_both_databases(journal: Database) -> None:
    source = TradesSource()
    names = ["id", "pnl", "opened_at", "closed_at", "notes"]
    params = TradeParams(tags=["breakout"], date_from=date(2025, 2, 1))
    with journal.read() as conn:
        batches = arrow_batches(conn, source.query("bob", params), source.arrow_schema(names), 50)
        assert batches is not None
        table = pa.Table.from_batches(list(batches), schema=source.arrow_schema(names))
    assert table.num_rows > 50  # several batches
    opened = table.column("opened_at").to_pylist()
    assert opened == sorted(opened)
    assert min(opened) >= datetime(2025, 2, 1, tzinfo=UTC)


def test_bound_text_is_a_value_never_sql(journal: Database) -> None:
    source = TradesSource()
    hostile = "x' OR '1'='1"
    with journal.write() as conn:
        row = {**_trade(1, exit_price=5.0), "symbol": hostile}
        conn.execute(insert(demo_trades), [row])
    with journal.read() as conn:
        table = fetch(conn, source, TradeParams(symbol=hostile), arrow=True, columns=["symbol"])
        assert table.column("symbol").to_pylist() == [hostile]
        assert fetch(conn, source, TradeParams(symbol="x"), arrow=True).num_rows == 0
        assert inspect(conn).has_table("demo_trades")


@pytest.mark.parametrize("names", [["id", "exit_price", "closed_at"], ["id", "exit_price"]])
def test_a_column_null_through_the_first_batch_is_still_typed(
    journal: Database, names: list[str]
) -> None:
    """SQLite types a column from its first batch: all NULL there reads as integers and
    the first price after it would fail the export halfway.  Read on one connection
    (a LIMIT: no key ranges), the export takes the row path instead, before writing."""
    with journal.write() as conn:
        open_first = [_trade(i, exit_price=None) for i in range(100)]
        closed_after = [_trade(100 + i, exit_price=10.0 + i) for i in range(100)]
        conn.execute(insert(demo_trades), open_first + closed_after)
    source = TradesSource()
    params = TradeParams(symbol="ZZZ", limit=1_000)
    with journal.read() as conn:
        fast = arrow_batches(conn, source.query("bob", params), source.arrow_schema(names), 50)
        assert (fast is None) == (conn.dialect.name == "sqlite")
        if fast is not None:
            list(fast)
        table = fetch(conn, source, params, arrow=True, columns=names)
    prices = table.column("exit_price").to_pylist()
    assert prices == [None] * 100 + [10.0 + i for i in range(100)]


def test_without_the_driver_the_row_path_serves(
    journal: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "adbc_driver_sqlite.dbapi", None)
    monkeypatch.setitem(sys.modules, "adbc_driver_postgresql.dbapi", None)
    source = TradesSource()
    with journal.read() as conn:
        query = source.query("bob", TradeParams())
        assert arrow_batches(conn, query, source.arrow_schema(["id"]), 10) is None
        assert fetch(conn, source, TradeParams(), arrow=True).num_rows == 700


def test_a_sql_source_gives_the_same_rows_on_both_paths(journal: Database) -> None:
    spec = SqlSourceSpec.model_validate(
        {
            "name": "wins",
            "title": "Wins",
            "sql": "SELECT closed_at, symbol, pnl FROM demo_trades"
            " WHERE owner_id = :owner_id AND pnl >= :min_pnl ORDER BY pnl DESC, id",
            "columns": [
                {"name": "closed_at", "type": "datetime"},
                {"name": "symbol"},
                {"name": "pnl", "type": "number"},
            ],
            "params": [{"name": "min_pnl", "type": "number", "required": True}],
        }
    )
    source = load_sources([], [spec]).get("wins")
    assert isinstance(source, QuerySource)
    params = source.params_model.model_validate({"min_pnl": 100})
    columns = ["pnl", "symbol"]  # a subset, in another order
    with journal.read() as conn:
        by_rows = fetch(conn, source, params, arrow=False, columns=columns)
        by_arrow = fetch(conn, source, params, arrow=True, columns=columns)
    assert by_arrow.num_rows == by_rows.num_rows > 0
    assert by_arrow.equals(by_rows)


def _trade(n: int, *, exit_price: float | None) -> dict[str, Any]:
    """The n-th trade of a day, one a minute."""
    return trade_row(datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=n), exit_price)


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_days_are_utc_days_whatever_the_servers_zone(journal: Database) -> None:
    """exportd's connections say TimeZone=UTC; the ADBC one must too, or a day computed
    in SQL (daily P&L) moves with the server's setting."""
    with journal.read() as conn:
        name = conn.exec_driver_sql("SELECT current_database()").scalar_one()
    with journal.write() as conn:
        conn.exec_driver_sql(f"ALTER DATABASE \"{name}\" SET TimeZone = 'Pacific/Kiritimati'")
    source = DailyPnlSource()
    with journal.read() as conn:
        by_rows = fetch(conn, source, DailyPnlParams(), arrow=False)
        by_arrow = fetch(conn, source, DailyPnlParams(), arrow=True)
    assert by_arrow.equals(by_rows)


def test_a_driver_error_keeps_bound_values_out_of_the_message(journal: Database) -> None:
    """ADBC appends the statement with its values to its errors; exportd keeps the first
    line, which names the fault."""
    from exportd.demo.sources import trades_query

    def broken(owner_id: str, params: BaseModel) -> Any:
        return trades_query(owner_id, params).where(text("no_such_column = 'secret-filter'"))

    source = QuerySource(
        name="broken",
        title="Broken",
        params_model=TradeParams,
        columns=TradesSource().columns,
        query=broken,
    )
    with journal.read() as conn, pytest.raises(TerminalJobError) as failed:
        list(
            arrow_batches(conn, source.query("bob", TradeParams()), source.arrow_schema(["id"]), 10)
            or []
        )
    assert failed.value.code == "source_query_failed"
    assert "no_such_column" in failed.value.message
    assert "secret-filter" not in failed.value.message


def test_a_database_path_with_uri_characters_is_still_read(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'odd ?#% name.db'}"
    db = create_database(load_settings(database_url=url))
    with db.write() as conn:
        create_demo_tables(conn)
        seed_trades(conn, "bob", 30)
    source = TradesSource()
    with db.read() as conn:
        fast = arrow_batches(
            conn, source.query("bob", TradeParams()), source.arrow_schema(["id"]), 10
        )
        assert fast is not None
        assert sum(batch.num_rows for batch in fast) == 30
    db.dispose()

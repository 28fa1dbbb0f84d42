"""SQLite exports read in key ranges on two connections (sources/sqlite_ranges.py): the
same rows in the same order as one read, from one snapshot, whatever the ties, NULLs or
ranges' sizes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import (
    NUMERIC,
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    insert,
    select,
)

from exportd.config import load_settings
from exportd.db import Database, create_database
from exportd.demo.sources import DailyPnlParams, TradeParams, TradesSource, daily_pnl_query
from exportd.demo.tables import create_demo_tables, demo_trades, seed_trades
from exportd.sources import arrow_fetch, sqlite_ranges
from exportd.sources.query import ARROW_FETCH_OPTION
from exportd.sources.sqlite_ranges import key_columns
from tests.support.databases import migrated_sqlite
from tests.support.trades import trade_row

COLUMNS = ["id", "symbol", "exit_price", "pnl", "opened_at", "closed_at", "notes", "tag"]


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Database]:
    db = create_database(load_settings(database_url=migrated_sqlite(tmp_path / "journal.db")))
    with db.write() as conn:
        create_demo_tables(conn)
        seed_trades(conn, "bob", 700)
        seed_trades(conn, "eve", 40)
    yield db
    db.dispose()


@pytest.fixture
def bounds(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Small ranges (one per 64 rows), and the bounds the scout found."""
    monkeypatch.setattr(sqlite_ranges, "RANGE_ROWS", 64)
    found: list[tuple[Any, ...]] = []
    scout = sqlite_ranges._bounds

    def recorded(*args: Any) -> Iterator[tuple[Any, ...]]:
        for bound in scout(*args):
            found.append(bound)
            yield bound

    monkeypatch.setattr(sqlite_ranges, "_bounds", recorded)
    return found


def read(conn: Connection, params: TradeParams, *, arrow: bool, batch_size: int = 50) -> pa.Table:
    source = TradesSource()
    conn.execution_options(**{ARROW_FETCH_OPTION: arrow})
    batches = source.batches(conn, "bob", params, COLUMNS, batch_size=batch_size)
    return pa.Table.from_batches(list(batches), schema=source.arrow_schema(COLUMNS))


def test_the_ranges_give_the_rows_of_one_read_in_order(
    journal: Database, bounds: list[tuple[Any, ...]]
) -> None:
    with journal.read() as conn:
        by_rows = read(conn, TradeParams(), arrow=False)
        in_ranges = read(conn, TradeParams(), arrow=True)
    assert len(bounds) == 700 // 64  # ten bounds: eleven ranges
    assert in_ranges.num_rows == 700
    assert in_ranges.equals(by_rows)
    assert max(b.num_rows for b in in_ranges.to_batches()) <= 50


def test_filters_and_a_batch_larger_than_a_range(
    journal: Database, bounds: list[tuple[Any, ...]]
) -> None:
    params = TradeParams(direction="long", tags=["breakout", "news"])
    with journal.read() as conn:
        by_rows = read(conn, params, arrow=False, batch_size=100)
        in_ranges = read(conn, params, arrow=True, batch_size=100)
    assert bounds  # ranges of max(64, batch size) = 100 rows
    assert in_ranges.num_rows == by_rows.num_rows > 100
    assert in_ranges.equals(by_rows)


def test_ties_on_the_first_key_split_by_the_primary_key(
    journal: Database, bounds: list[tuple[Any, ...]]
) -> None:
    """300 trades opened in the same second: the bounds fall inside the tie."""
    same = datetime(2024, 6, 1, 12, tzinfo=UTC)
    with journal.write() as conn:
        rows = [trade_row(same, None if i % 3 else 11.0) for i in range(300)]
        conn.execute(insert(demo_trades), rows)
    with journal.read() as conn:
        by_rows = read(conn, TradeParams(), arrow=False)
        in_ranges = read(conn, TradeParams(), arrow=True)
    assert len({opened for opened, _ in bounds}) < len(bounds)  # bounds inside the tie
    assert in_ranges.num_rows == 1_000
    assert in_ranges.equals(by_rows)


def test_a_range_null_all_through_is_typed(
    journal: Database, bounds: list[tuple[Any, ...]]
) -> None:
    """The earliest 200 trades are open (no exit price, no close): whole ranges where
    SQLite would guess integers."""
    first = datetime(2020, 1, 1, tzinfo=UTC)
    with journal.write() as conn:
        rows = [trade_row(first + timedelta(minutes=i), None) for i in range(200)]
        conn.execute(insert(demo_trades), rows)
    with journal.read() as conn:
        by_rows = read(conn, TradeParams(), arrow=False)
        in_ranges = read(conn, TradeParams(), arrow=True)
    assert in_ranges.column("exit_price").slice(0, 200).null_count == 200
    assert in_ranges.equals(by_rows)


def test_one_snapshot_whatever_is_committed_meanwhile(
    journal: Database, bounds: list[tuple[Any, ...]]
) -> None:
    source = TradesSource()
    with journal.read() as conn:
        before = read(conn, TradeParams(), arrow=False)
        conn.execution_options(**{ARROW_FETCH_OPTION: True})
        batches = source.batches(conn, "bob", TradeParams(), COLUMNS, batch_size=50)
        got = [next(batches)]
        with journal.write() as writer:  # earlier and later trades, and fewer of them
            writer.execute(delete(demo_trades).where(demo_trades.c.id % 7 == 0))
            early, late = datetime(2019, 1, 1, tzinfo=UTC), datetime(2031, 1, 1, tzinfo=UTC)
            writer.execute(insert(demo_trades), [trade_row(early, 1.0), trade_row(late, 2.0)])
        got.extend(batches)
    assert bounds
    assert pa.Table.from_batches(got).equals(before)


def test_a_commit_while_the_readers_begin_means_one_connection(
    journal: Database, bounds: list[tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    versions = iter(range(1_000))  # every look says something was committed
    monkeypatch.setattr(sqlite_ranges, "_data_version", lambda conn: next(versions))
    opened = []
    ranges = sqlite_ranges._ranges
    monkeypatch.setattr(sqlite_ranges, "_ranges", lambda *a: opened.append(1) or ranges(*a))
    with journal.read() as conn:
        table = read(conn, TradeParams(), arrow=True)
        assert table.equals(read(conn, TradeParams(), arrow=False))
    assert not opened
    assert next(versions) == 2 * sqlite_ranges.SNAPSHOT_TRIES  # tried, then gave up


def test_rows_that_fit_in_one_range_are_read_on_one_connection(
    journal: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """700 trades, the earliest 200 open: one range of 16,384 holds them all.  No reader
    is opened, and the column NULL through the first 200 is still typed."""
    first = datetime(2020, 1, 1, tzinfo=UTC)
    with journal.write() as conn:
        rows = [trade_row(first + timedelta(minutes=i), None) for i in range(200)]
        conn.execute(insert(demo_trades), rows)
    ranges = sqlite_ranges._ranges
    ranged: list[int] = []
    monkeypatch.setattr(sqlite_ranges, "_ranges", lambda *a: ranged.append(1) or ranges(*a))
    opened = arrow_fetch._sqlite_reader
    connections: list[bool] = []

    def counted(*args: Any, autocommit: bool) -> Any:
        connections.append(autocommit)
        return opened(*args, autocommit=autocommit)

    monkeypatch.setattr(arrow_fetch, "_sqlite_reader", counted)
    with journal.read() as conn:
        by_rows = read(conn, TradeParams(), arrow=False)
        source = TradesSource()
        conn.execution_options(**{ARROW_FETCH_OPTION: True})
        batches = source.batches(conn, "bob", TradeParams(), COLUMNS, batch_size=50)
        got = [next(batches)]
        assert not any(t.name.startswith("exportd-range") for t in threading.enumerate())
        got.extend(batches)
    table = pa.Table.from_batches(got, schema=source.arrow_schema(COLUMNS))
    assert not ranged
    assert connections == [False]  # one connection, in one read transaction: no watch
    assert table.num_rows == 900
    assert table.column("exit_price").slice(0, 200).null_count == 200
    assert table.equals(by_rows)


def test_every_connection_of_a_read_keeps_a_small_page_cache(
    journal: Database, bounds: list[tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    caches: list[int] = []
    opened = arrow_fetch._sqlite_reader

    def recorded(*args: Any, **kwargs: Any) -> Any:
        conn = opened(*args, **kwargs)
        cursor = conn.cursor()
        cursor.execute("PRAGMA cache_size")
        caches.append(cursor.fetchone()[0])
        cursor.close()
        return conn

    monkeypatch.setattr(arrow_fetch, "_sqlite_reader", recorded)
    with journal.read() as conn:
        assert read(conn, TradeParams(), arrow=True).num_rows == 700
    # The first look, then the watch, the scout and the readers.
    assert len(caches) == 3 + sqlite_ranges.READERS
    assert set(caches) == {-arrow_fetch.SQLITE_READ_CACHE_KB}


def test_stopping_early_stops_the_readers(journal: Database, bounds: list[tuple[Any, ...]]) -> None:
    source = TradesSource()
    with journal.read() as conn:
        conn.execution_options(**{ARROW_FETCH_OPTION: True})
        batches = source.batches(conn, "bob", TradeParams(), COLUMNS, batch_size=50)
        next(batches)
        assert any(t.name.startswith("exportd-range") for t in threading.enumerate())
        batches.close()
    assert not any(t.name.startswith("exportd-range") for t in threading.enumerate())
    with journal.write() as conn:  # no reader left holding the database
        conn.execute(delete(demo_trades))


def test_which_orders_are_total() -> None:
    trades = TradesSource().query("bob", TradeParams())
    t = demo_trades.c
    assert [c.name for c in key_columns(trades) or []] == ["opened_at", "id"]
    assert key_columns(select(demo_trades).order_by(t.id)) == [t.id]
    refused = [
        trades.limit(10),
        trades.offset(10),
        trades.distinct(),
        select(demo_trades).order_by(t.opened_at),  # ties: not total
        select(demo_trades).order_by(t.opened_at.desc(), t.id.desc()),
        select(demo_trades).order_by(t.closed_at, t.id),  # NULLs match no range
        select(demo_trades).order_by(t.id, t.opened_at),  # not ending with the key
        select(demo_trades.c.symbol).group_by(t.symbol).order_by(t.symbol),
        daily_pnl_query("bob", DailyPnlParams()),
        select(demo_trades),
    ]
    assert all(key_columns(query) is None for query in refused)


def test_keys_compare_by_their_collation_whatever_their_affinity(
    tmp_path: Path, bounds: list[tuple[Any, ...]]
) -> None:
    """The bound's row-by-row test drops the columns' affinity but keeps their
    collation: a NOCASE key ('b' between 'A' and 'C') and a NUMERIC one holding text,
    numbers and numeric-looking text (stored as numbers), with ties across bounds."""
    metadata = MetaData()
    codes = Table(
        "codes",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("code", String(collation="NOCASE"), nullable=False),
        Column("grade", NUMERIC, nullable=False),
        Column("label", String, nullable=False),
    )
    db = create_database(load_settings(database_url=f"sqlite:///{tmp_path / 'codes.db'}"))
    grades: list[Any] = ["10", 9, "9.5", "2024-01-01", "A1", 100, "1e3", " 7", "x"]
    with db.write() as conn:
        metadata.create_all(conn)
        conn.exec_driver_sql(  # raw: the NUMERIC column's affinity decides the storage
            "INSERT INTO codes (code, grade, label) VALUES (?, ?, ?)",
            [("aAbBcC"[i % 6], grades[i % len(grades)], f"#{i}") for i in range(1_000)],
        )
    schema = pa.schema([("id", pa.int64()), ("label", pa.string())])
    try:
        for key in ([codes.c.code, codes.c.id], [codes.c.grade, codes.c.id]):
            query = select(codes.c.id, codes.c.label).order_by(*key)
            with db.read() as conn:
                expected = [row.id for row in conn.execute(query)]
                batches = arrow_fetch.arrow_batches(conn, query, schema, batch_size=50)
                assert batches is not None
                got = pa.Table.from_batches(list(batches), schema=schema)
            assert got.column("id").to_pylist() == expected
        assert len(bounds) == 2 * (1_000 // 64)
    finally:
        db.dispose()

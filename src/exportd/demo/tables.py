"""Demo tables: a trading journal.  Not part of exportd's own schema: ``exportd demo``
creates and seeds them; a real deployment exports from the host application's tables."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    insert,
)

from exportd.db.types import UTCDateTime

demo_metadata = MetaData()

demo_trades = Table(
    "demo_trades",
    demo_metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("owner_id", String(255), nullable=False),
    Column("symbol", String(32), nullable=False),
    Column("direction", String(8), nullable=False),
    Column("status", String(8), nullable=False),
    Column("quantity", Float, nullable=False),
    Column("entry_price", Float, nullable=False),
    Column("exit_price", Float, nullable=True),
    Column("pnl", Float, nullable=True),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime, nullable=True),
    Column("notes", String(2000), nullable=True),
    Index("ix_demo_trades_owner_opened", "owner_id", "opened_at"),
)

SYMBOLS = ["AAPL", "MSFT", "NVDA", "TSLA", "ES", "NQ", "EURUSD", "BTCUSD", "GC", "CL"]
NOTES = ["breakout", "=SUM(A1:A9)", "news spike", "revenge trade", "ça marche", "跌破支撑", None]


def create_demo_tables(conn: Connection) -> None:
    demo_metadata.create_all(conn)


def seed_trades(conn: Connection, owner_id: str, count: int, *, seed: int = 7) -> None:
    rng = random.Random(f"{seed}:{owner_id}")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    rows = []
    for _ in range(count):
        opened = start + timedelta(minutes=rng.randrange(0, 600_000))
        entry = round(rng.uniform(10, 500), 2)
        closed = rng.random() > 0.1
        exit_price = round(entry * rng.uniform(0.9, 1.1), 2) if closed else None
        quantity = rng.choice([1, 2, 5, 10, 25, 100])
        direction = rng.choice(["long", "short"])
        sign = 1 if direction == "long" else -1
        pnl = round(sign * (exit_price - entry) * quantity, 2) if exit_price else None
        rows.append(
            {
                "owner_id": owner_id,
                "symbol": rng.choice(SYMBOLS),
                "direction": direction,
                "status": "closed" if closed else "open",
                "quantity": float(quantity),
                "entry_price": entry,
                "exit_price": exit_price,
                "pnl": pnl,
                "opened_at": opened,
                "closed_at": opened + timedelta(minutes=rng.randrange(1, 5000)) if closed else None,
                "notes": rng.choice(NOTES),
            }
        )
        if len(rows) == 5000:
            conn.execute(insert(demo_trades), rows)
            rows = []
    if rows:
        conn.execute(insert(demo_trades), rows)

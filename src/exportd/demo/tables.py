"""Demo tables: a trading journal.  Not part of exportd's own schema: ``exportd demo``
creates and seeds them; a real deployment exports from the host application's tables."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Date,
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
    Column("tag", String(32), nullable=True),
    Index("ix_demo_trades_owner_opened", "owner_id", "opened_at"),
)

demo_goals = Table(
    "demo_goals",
    demo_metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("owner_id", String(255), nullable=False),
    Column("title", String(200), nullable=False),
    Column("metric", String(32), nullable=False),
    Column("target", Float, nullable=False),
    Column("current", Float, nullable=False),
    Column("due_on", Date, nullable=False),
    Column("status", String(16), nullable=False),
    Index("ix_demo_goals_owner", "owner_id"),
)

demo_prop_evaluations = Table(
    "demo_prop_evaluations",
    demo_metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("owner_id", String(255), nullable=False),
    Column("firm", String(64), nullable=False),
    Column("account_size", Float, nullable=False),
    Column("phase", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("profit_target", Float, nullable=False),
    Column("max_drawdown", Float, nullable=False),
    Column("pnl", Float, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime, nullable=True),
    Index("ix_demo_prop_evaluations_owner", "owner_id"),
)

SYMBOLS = ["AAPL", "MSFT", "NVDA", "TSLA", "ES", "NQ", "EURUSD", "BTCUSD", "GC", "CL"]
TAGS = ["breakout", "pullback", "reversal", "news", "scalp", "swing"]
NOTES = ["breakout", "=SUM(A1:A9)", "news spike", "revenge trade", "ça marche", "跌破支撑", None]


def create_demo_tables(conn: Connection) -> None:
    demo_metadata.create_all(conn)


def seed_trades(conn: Connection, owner_id: str, count: int, *, seed: int = 7) -> None:
    rng = random.Random(f"{seed}:{owner_id}")
    tags = random.Random(f"{seed}:{owner_id}:tags")  # its own stream: the rest stays put
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
                "tag": tags.choice([*TAGS, None]),
            }
        )
        if len(rows) == 5000:
            conn.execute(insert(demo_trades), rows)
            rows = []
    if rows:
        conn.execute(insert(demo_trades), rows)


GOALS = [
    ("Monthly profit", "pnl", 2_000.0),
    ("Win rate", "win_rate", 0.55),
    ("Max daily loss kept", "max_daily_loss", 300.0),
    ("Journal every trade", "journaled", 1.0),
    ("Trades per week", "trades", 20.0),
]
# A cap is met by staying at or under it; a rate never passes 100%.
CEILINGS = {"max_daily_loss"}
FRACTIONS = {"win_rate", "journaled"}
FIRMS = ["Apex", "FTMO", "Topstep", "The5ers"]


def seed_goals_and_evaluations(conn: Connection, owner_id: str, *, seed: int = 7) -> None:
    rng = random.Random(f"{seed}:{owner_id}:goals")
    goals = []
    for month in range(1, 13):
        for title, metric, target in GOALS:
            current = round(target * rng.uniform(0.3, 1.3), 2)
            if metric in FRACTIONS:
                current = min(current, 1.0)
            met = current <= target if metric in CEILINGS else current >= target
            goals.append(
                {
                    "owner_id": owner_id,
                    "title": f"{title} ({2025}-{month:02d})",
                    "metric": metric,
                    "target": target,
                    "current": current,
                    "due_on": datetime(2025, month, 28).date(),
                    "status": "met" if met else "missed",
                }
            )
    conn.execute(insert(demo_goals), goals)
    evaluations = []
    for index in range(12):
        size = rng.choice([25_000.0, 50_000.0, 100_000.0, 150_000.0])
        started = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=30 * index)
        pnl = round(size * rng.uniform(-0.08, 0.12), 2)
        target, drawdown = size * 0.08, size * 0.06
        status = "passed" if pnl >= target else "failed" if pnl <= -drawdown else "active"
        evaluations.append(
            {
                "owner_id": owner_id,
                "firm": rng.choice(FIRMS),
                "account_size": size,
                "phase": rng.choice(["challenge", "verification", "funded"]),
                "status": status,
                "profit_target": target,
                "max_drawdown": drawdown,
                "pnl": pnl,
                "started_at": started,
                "ended_at": None if status == "active" else started + timedelta(days=21),
            }
        )
    conn.execute(insert(demo_prop_evaluations), evaluations)

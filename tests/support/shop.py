"""A host application's shop database for the named data connections' tests: an
``orders`` table on MariaDB, PostgreSQL or SQLite, and the SQL source that exports it
(the worked example of docs/connections.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

ORDERS_DDL = {
    "mysql": """CREATE TABLE orders (
        id BIGINT PRIMARY KEY, owner_id VARCHAR(64) NOT NULL, customer VARCHAR(100) NOT NULL,
        total DECIMAL(12, 2) NOT NULL, qty INT NOT NULL, paid BOOLEAN NOT NULL,
        placed_at DATETIME(6) NOT NULL, note VARCHAR(200) NULL, KEY (owner_id, id)
    ) ENGINE=InnoDB""",
    "postgresql": """CREATE TABLE orders (
        id BIGINT PRIMARY KEY, owner_id TEXT NOT NULL, customer TEXT NOT NULL,
        total NUMERIC(12, 2) NOT NULL, qty INTEGER NOT NULL, paid BOOLEAN NOT NULL,
        placed_at TIMESTAMPTZ NOT NULL, note TEXT NULL
    )""",
    "sqlite": """CREATE TABLE orders (
        id INTEGER PRIMARY KEY, owner_id TEXT NOT NULL, customer TEXT NOT NULL,
        total REAL NOT NULL, qty INTEGER NOT NULL, paid INTEGER NOT NULL,
        placed_at TEXT NOT NULL, note TEXT NULL
    )""",
}
START = datetime(2026, 3, 1, tzinfo=UTC)

# The source of docs/connections.md, on a connection named by the caller.  COALESCE, not
# ``:min_total IS NULL OR …``: PostgreSQL cannot type a number bound as NULL on its own.
ORDERS_SQL = (
    "SELECT id, customer, total, qty, paid, placed_at, note FROM orders "
    "WHERE owner_id = :owner_id AND total >= COALESCE(:min_total, 0) ORDER BY id"
)


def orders_source(name: str, connection: str) -> dict[str, Any]:
    return {
        "name": name,
        "title": f"Orders ({connection})",
        "connection": connection,
        "sql": ORDERS_SQL,
        "columns": [
            {"name": "id", "type": "integer", "label": "Order"},
            {"name": "customer"},
            {"name": "total", "type": "number"},
            {"name": "qty", "type": "integer"},
            {"name": "paid", "type": "boolean"},
            {"name": "placed_at", "type": "datetime"},
            {"name": "note"},
        ],
        "params": [{"name": "min_total", "type": "number"}],
    }


def order_rows(owners: dict[str, int]) -> list[dict[str, Any]]:
    """Orders for each owner (how many each), ids unique across owners."""
    rows = []
    next_id = 1
    for owner, count in owners.items():
        for i in range(count):
            rows.append(
                {
                    "id": next_id,
                    "owner_id": owner,
                    "customer": f"customer {i % 37} ünïcode ✓",
                    "total": Decimal(i % 1000) + Decimal("0.25"),
                    "qty": i % 7,
                    "paid": i % 3 == 0,
                    "placed_at": START + timedelta(minutes=i),
                    "note": None if i % 5 == 0 else f"note {i}",
                }
            )
            next_id += 1
    return rows


def insert_sql(engine: str) -> str:
    mark = "%s" if engine in ("mysql", "postgresql") else "?"
    return (
        "INSERT INTO orders (id, owner_id, customer, total, qty, paid, placed_at, note) "
        f"VALUES ({', '.join([mark] * 8)})"
    )


def as_params(row: dict[str, Any], engine: str) -> tuple[Any, ...]:
    placed = row["placed_at"]
    if engine == "mysql":
        placed = placed.replace(tzinfo=None)
    elif engine == "sqlite":
        placed = placed.isoformat()
    total = float(row["total"]) if engine == "sqlite" else row["total"]
    return (
        row["id"], row["owner_id"], row["customer"], total, row["qty"],
        row["paid"], placed, row["note"],
    )  # fmt: skip

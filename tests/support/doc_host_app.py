"""The host application the docs' plugin examples are written against: the tables that
``myapp.tables`` names (docs/plugins.md) and the report helpers ``mypackage.reports``
gives (docs/queue.md), with a little data."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Connection, Date, DateTime, Float, Integer, MetaData, String
from sqlalchemy import Table as SqlTable

metadata = MetaData()
invoices = SqlTable(
    "myapp_invoices",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("customer_id", String(64), nullable=False),
    Column("number", String(32), nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("year", Integer, nullable=False),
    Column("total", Float, nullable=False),
)
employees = SqlTable(
    "myapp_employees",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column("full_name", String(200), nullable=False),
    Column("title", String(200), nullable=False),
    Column("hired", Date, nullable=False),
    Column("skills", JSON, nullable=False),
)

# The modules a reader writes beside the docs' own (each imports from here).
MODULES = {
    "myapp/__init__.py": "",
    "myapp/tables.py": "from tests.support.doc_host_app import employees, invoices\n",
    "mypackage/__init__.py": "",
    "mypackage/reports.py": "from tests.support.doc_host_app import batches, write\n",
}


def seed(conn: Connection, owner_id: str) -> None:
    metadata.create_all(conn)
    conn.execute(
        invoices.insert(),
        [
            {
                "customer_id": owner_id,
                "number": f"INV-{year}-{n:03d}",
                "issued_at": datetime(year, n % 12 + 1, 5, tzinfo=UTC),
                "year": year,
                "total": 100.0 + n,
            }
            for year in (2025, 2026)
            for n in range(1, 13)
        ],
    )
    conn.execute(
        employees.insert().values(
            user_id=owner_id,
            full_name="Bob Okafor",
            title="Risk analyst",
            hired=date(2022, 4, 1),
            skills=["Python", "SQL"],
        )
    )


def batches(payload: dict[str, Any]) -> Iterator[list[int]]:
    """``payload["batches"]`` batches of 1,000 rows (docs/queue.md counts them so)."""
    for _ in range(int(payload.get("batches", 0))):
        yield list(range(1000))


def write(batch: list[int]) -> None:
    assert len(batch) == 1000

"""The shop database on each engine, filled with ``order_rows``: a MariaDB database, a
PostgreSQL database (not exportd's), a SQLite file; each gives its connection URL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from tests.support.databases import fresh_pg_database, require_postgres
from tests.support.mariadb import _connect, fresh_mysql_database, mysql_url
from tests.support.shop import ORDERS_DDL, as_params, insert_sql

ENGINES = ["mysql", "postgresql", "sqlite"]


@contextmanager
def shop_database(engine: str, rows: list[dict[str, Any]], folder: Path) -> Iterator[str]:
    """A database of ``rows`` on ``engine``; yields the connection URL."""
    values = [as_params(row, engine) for row in rows]
    if engine == "mysql":
        with fresh_mysql_database() as name:
            conn = _connect(database=name)
            try:
                with conn.cursor() as cursor:
                    cursor.execute(ORDERS_DDL["mysql"])
                    cursor.executemany(insert_sql("mysql"), values)
            finally:
                conn.close()
            yield mysql_url(name)
        return
    if engine == "postgresql":
        require_postgres()
        with fresh_pg_database(migrated=False) as url:
            with psycopg.connect(url) as conn:
                conn.execute(ORDERS_DDL["postgresql"])
                with conn.cursor() as cursor:
                    cursor.executemany(insert_sql("postgresql"), values)
            yield url
        return
    path = folder / "shop.db"
    with sqlite3.connect(path) as conn:
        conn.execute(ORDERS_DDL["sqlite"])
        conn.executemany(insert_sql("sqlite"), values)
    conn.close()
    yield f"sqlite:///{path}"

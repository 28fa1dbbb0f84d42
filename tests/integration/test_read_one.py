"""``Database.read_one``: a single statement outside any transaction on PostgreSQL (one
round trip), and the pooled connection back to transactions afterwards."""

from __future__ import annotations

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import Connection, text

from exportd.config import Settings
from exportd.db import create_database


def _status(conn: Connection) -> TransactionStatus:
    return conn.connection.driver_connection.info.transaction_status  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_read_one_opens_no_transaction_and_leaves_none_behind(settings: Settings) -> None:
    db = create_database(settings)
    db.engine.pool.dispose()
    with db.read_one() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1
        assert _status(conn) is TransactionStatus.IDLE  # no BEGIN was sent
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    with db.read() as conn:  # the same pooled connection, transactional again
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar() == pid
        assert _status(conn) is TransactionStatus.INTRANS
    db.dispose()


def test_read_one_reads_on_sqlite_too(settings: Settings) -> None:
    db = create_database(settings)
    with db.read_one() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1
    db.dispose()

"""A pooled connection killed while idle is replaced without the caller noticing."""

from __future__ import annotations

from unittest import mock

import pytest
from sqlalchemy import text

from exportd.config import Settings
from exportd.db import create_database


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_an_idle_dead_connection_is_replaced(settings: Settings) -> None:
    db = create_database(settings)
    with db.read() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    admin = create_database(settings, pool=False)
    with admin.write() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    # Pretend the connection sat idle long enough to be pinged.
    with mock.patch("exportd.db.engine.IDLE_BEFORE_PING_S", -1.0), db.read() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar() != pid
    db.dispose()
    admin.dispose()


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_one_thread_keeps_reusing_one_connection_and_its_prepared_statements(
    settings: Settings,
) -> None:
    """After a burst opened several connections, one thread gets the one it returned last
    (not the oldest idle one), so psycopg's prepared statements (after five runs on a
    connection) serve it."""
    db = create_database(settings)
    with db.read() as a, db.read() as b, db.read() as c:  # a burst: three open at once
        pids = {conn.execute(text("SELECT pg_backend_pid()")).scalar() for conn in (a, b, c)}
    assert len(pids) == 3
    seen = set()
    for _ in range(6):
        with db.read() as conn:
            seen.add(conn.execute(text("SELECT pg_backend_pid()")).scalar())
            prepared = conn.execute(
                text("SELECT count(*) FROM pg_prepared_statements WHERE statement = :s"),
                {"s": "SELECT pg_backend_pid()"},
            ).scalar()
    assert len(seen) == 1
    assert prepared == 1
    db.dispose()

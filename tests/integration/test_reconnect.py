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

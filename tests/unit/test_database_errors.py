"""Which database errors are an outage (503, try again) and which stay bugs (500)."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from psycopg import errors as pg
from sqlalchemy import exc as sa

from exportd.db.errors import is_unavailable


def wrapped(orig: BaseException, *, invalidated: bool = False) -> sa.DBAPIError:
    return sa.DBAPIError.instance(
        "SELECT 1", {}, orig, type(orig), connection_invalidated=invalidated
    )


@pytest.mark.parametrize(
    ("exc", "unavailable"),
    [
        # PostgreSQL: cannot connect (no SQLSTATE), the server going away, out of slots.
        (wrapped(psycopg.OperationalError("connection refused")), True),
        (wrapped(pg.AdminShutdown("terminating connection")), True),
        (wrapped(pg.TooManyConnections("sorry, too many clients")), True),
        (wrapped(pg.DatabaseDropped("database dropped")), True),
        (wrapped(pg.DeadlockDetected("deadlock")), True),  # run it again
        (wrapped(pg.LockNotAvailable("lock timeout")), True),
        (wrapped(psycopg.InterfaceError("the connection is closed")), True),
        (wrapped(pg.SyntaxError("oops"), invalidated=True), True),  # the pool saw it die
        (sa.DisconnectionError("gone"), True),
        (sa.TimeoutError("QueuePool limit reached"), True),
        (pg.AdminShutdown("raw, outside SQLAlchemy"), True),
        # SQLite: only the file being unreachable or busy.
        (wrapped(sqlite3.OperationalError("unable to open database file")), True),
        (wrapped(sqlite3.OperationalError("database is locked")), True),
        (wrapped(sqlite3.OperationalError("disk I/O error")), True),
        # Bugs, not outages: they stay 500s.
        (wrapped(sqlite3.OperationalError("no such table: exports")), False),
        (wrapped(sqlite3.OperationalError('near "SELEC": syntax error')), False),
        (wrapped(sqlite3.IntegrityError("UNIQUE constraint failed")), False),
        (wrapped(pg.UndefinedTable("no such table")), False),
        (wrapped(pg.StatementTooComplex("too complex")), False),  # an OperationalError too
        (wrapped(pg.UniqueViolation("duplicate key")), False),
        (sa.ArgumentError("bad argument"), False),
        (ValueError("not a database error"), False),
    ],
)
def test_is_unavailable(exc: BaseException, unavailable: bool) -> None:
    assert is_unavailable(exc) is unavailable

"""Which database errors mean "the database is not there right now" (try again later).

The API answers those with ``503 database_unavailable`` and ``Retry-After`` instead of a
500: a server that is down, restarting, dropped our connection, refuses connections, is
out of connections, or (SQLite) cannot be opened or is locked past the busy timeout.
Everything else — a bad statement, a constraint, a missing table — stays a bug (500).

Only the classification lives here; the HTTP layer (``api.problems``) acts on it.  The
worker keeps its own rule (``errors.classify``): any database error is retried there.
"""

from __future__ import annotations

import sqlite3
import sys

from sqlalchemy import exc as sa

# PostgreSQL SQLSTATE classes that say the server, not the statement, is the problem:
# 08 connection exception, 53 insufficient resources (too many connections, disk full),
# 57 operator intervention (shutdown, database dropped, cannot connect now, canceled),
# 58 system error (I/O), 40 transaction rollback (deadlock, serialization: run it again).
_PG_CLASSES = frozenset({"08", "53", "57", "58", "40"})
_PG_CODES = frozenset({"55P03"})  # lock not available

# sqlite3 raises OperationalError for syntax errors and missing tables too: only these
# messages are about the file being unreachable or busy.
_SQLITE_MESSAGES = (
    "unable to open database",
    "database is locked",
    "database table is locked",
    "disk i/o error",
)


def is_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` says the database cannot be reached or used for now."""
    if isinstance(exc, sa.DisconnectionError | sa.TimeoutError):
        return True  # a dead pooled connection; no connection free in the pool in time
    if isinstance(exc, sa.DBAPIError):
        if exc.connection_invalidated or isinstance(exc, sa.InterfaceError):
            return True
        return _driver_unavailable(exc.orig)
    return _driver_unavailable(exc)


def _driver_unavailable(exc: BaseException | None) -> bool:
    if isinstance(exc, sqlite3.OperationalError):
        message = str(exc).lower()
        return any(known in message for known in _SQLITE_MESSAGES)
    psycopg = sys.modules.get("psycopg")  # only installed with the postgres extra
    if psycopg is None:
        return False
    if isinstance(exc, psycopg.InterfaceError):
        return True  # "the connection is closed"
    if isinstance(exc, psycopg.OperationalError):
        state = exc.sqlstate
        # No SQLSTATE: the client could not connect at all (refused, timed out, the
        # server said FATAL at start-up: no such database, too many clients).
        return state is None or state[:2] in _PG_CLASSES or state in _PG_CODES
    return False

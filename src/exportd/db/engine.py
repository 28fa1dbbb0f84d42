"""The engine and its transactions, with the SQLite details kept in here.

SQLite runs in WAL mode with a busy timeout and FULL synchronous (a committed job
survives power loss).  Write transactions start with ``BEGIN IMMEDIATE``: a deferred
transaction that reads and then writes can fail at once with "database is locked" when
another writer committed in between, without waiting on the busy handler.  Before that,
a write transaction takes its turn among the file's writers (db/sqlite_writers.py): the
busy handler's sleeps made writers wait tens of milliseconds behind a transaction of one.
After it commits, it rings the file's listeners (db/sqlite_bells.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import NullPool

from exportd.config import Settings
from exportd.db.sqlite_bells import Bells
from exportd.db.sqlite_writers import WriterQueue, shared_file, writer_queue
from exportd.private import sqlite_file

_BEGIN_OPTION = "exportd_sqlite_begin"


class Database:
    """An engine plus the two kinds of transaction the rest of exportd uses."""

    def __init__(
        self,
        engine: Engine,
        *,
        writers: WriterQueue | None = None,
        bells: Bells | None = None,
        turn_wait_s: float = 5.0,
    ) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._after_write: list[Callable[[], None]] = []
        # SQLite's writers take turns (db/sqlite_writers.py); None: no file to share.
        self._writers = writers
        # SQLite: the file's listeners, rung after each commit (db/sqlite_bells.py).
        self._bells = bells
        self._turn_wait_s = turn_wait_s

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @property
    def is_in_memory(self) -> bool:
        """An in-memory SQLite database: another connection would see another, empty one."""
        url = self.engine.url
        if self.dialect != "sqlite":
            return False
        return url.database in (None, "", ":memory:") or "memory" in str(url.query.get("mode", ""))

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A read-write transaction, committed on success and rolled back on error."""
        writers = self._writers
        turn = writers.turn(self._turn_wait_s) if writers is not None else nullcontext()
        with turn, self.engine.connect() as conn:
            if self.dialect == "sqlite":
                conn = conn.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
            with conn.begin():
                yield conn
        if self._bells is not None:
            self._bells.ring()
        for callback in self._after_write:
            callback()

    def after_write(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` after each committed ``write`` transaction (caches listen)."""
        self._after_write.append(callback)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (deferred on SQLite, so readers never queue up)."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def read_one(self) -> Iterator[Connection]:
        """For one statement, which needs no transaction around it: on PostgreSQL that is
        one round trip instead of three (BEGIN, the statement, ROLLBACK) — what a status
        poll costs.  SQLite reads are in-process: the same as ``read``."""
        if not self.is_postgres:
            with self.read() as conn:
                yield conn
            return
        with self.engine.connect() as conn:
            yield conn.execution_options(isolation_level="AUTOCOMMIT")

    def dispose(self) -> None:
        self.engine.dispose()
        if self._bells is not None:
            self._bells.close()


def create_database(settings: Settings, *, pool: bool = True) -> Database:
    """A pooled PostgreSQL connection that sat idle is tested before it is handed out:
    with the last returned handed out first, the others may sit idle for hours."""
    url = make_url(settings.database_url)
    # Enough connections for the API's thread pool, so none is closed and reopened.  The
    # last one returned is handed out next: a worker's one thread kept rotating through
    # every connection a burst had opened, and psycopg prepares a statement only after
    # five runs on one connection (its settle's statements were parsed every time).
    kwargs: dict[str, Any] = {"pool_size": 20, "max_overflow": 20, "pool_use_lifo": True}
    if url.drivername.startswith("sqlite"):
        _ensure_sqlite_directory(url.database)
    elif url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    if url.drivername.startswith("postgresql"):
        _require_psycopg()
    if not pool:
        kwargs = {"poolclass": NullPool}
    if url.drivername.startswith("postgresql"):
        # Sessions in UTC whatever the server's default: date(ts) and friends agree with
        # SQLite and with what the API shows.
        kwargs["connect_args"] = {"options": "-c TimeZone=UTC"}
    engine = create_engine(url, **kwargs)
    writers = bells = None
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
        if shared_file(url.database):
            writers = writer_queue(str(url.database))
            bells = Bells(str(url.database))
    elif pool:
        _ping_when_idle(engine)
    return Database(
        engine,
        writers=writers,
        bells=bells,
        turn_wait_s=settings.sqlite_busy_timeout_ms / 1000,
    )


def _ensure_sqlite_directory(database: str | None) -> None:
    if shared_file(database):
        sqlite_file(str(database))  # its folder 0700 and the file 0600, before SQLite makes it


def _configure_sqlite(engine: Engine, *, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module; "begin" below owns it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


IDLE_BEFORE_PING_S = 5.0


def _ping_when_idle(engine: Engine) -> None:
    """Ping a connection only if it sat idle: a connection used moments ago is alive, and
    pinging every checkout would double the round trips of a quick read.  A dead one is
    reported as a disconnection, and the pool transparently hands out a fresh one."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["exportd_last_used"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        last_used = record.info.get("exportd_last_used")
        if last_used is None or time.monotonic() - last_used < IDLE_BEFORE_PING_S:
            return
        try:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            dbapi_connection.rollback()
        except Exception as exc:
            raise DisconnectionError("the pooled connection is gone") from exc


def _require_psycopg() -> None:
    try:
        import psycopg  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the installation
        from exportd.errors import ConfigError

        raise ConfigError(
            "EXPORTD_DATABASE_URL points at PostgreSQL, which needs the driver: "
            "pip install 'exportd[postgres]'"
        ) from None

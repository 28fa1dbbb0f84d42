"""Named data connections: the host application's own databases, read by the sources
that name them (``[connections.NAME]`` in the config file, ``EXPORTD_CONNECTIONS``).

- Each process opens a connection's engine the first time a source uses it (a worker's
  child at its first export from it, the API at ``/readyz``) and pools ``pool_size``
  connections; sources without a connection read exportd's own database, as before.
- Every session is set up by the database, not by exportd's good manners: read-only
  (PostgreSQL ``default_transaction_read_only``, MySQL/MariaDB ``SET SESSION TRANSACTION
  READ ONLY``, SQLite ``mode=ro``), a statement timeout (PostgreSQL ``statement_timeout``,
  MariaDB ``max_statement_time``, MySQL ``max_execution_time``) and UTC.
- An export reads one snapshot: its transaction is ``REPEATABLE READ, READ ONLY`` on
  PostgreSQL and ``START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY`` on MySQL; the
  Arrow fast paths read with one statement, which sees one snapshot too.
- The password comes from ``password_env`` (or the URL); neither is ever put in a log
  line or an error: driver messages are cut to their first line and the password is
  masked in them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from exportd.config import ConnectionSpec
from exportd.errors import ConfigError, RetryableJobError, TerminalJobError

# A connection execution option: the statements a MySQL session starts with, for the
# Arrow path's own connection (sources/arrow_fetch.py).
MYSQL_SESSION_OPTION = "exportd_mysql_session"
UNAVAILABLE = "connection_unavailable"
TIMED_OUT = "statement_timeout"
_TIMEOUT_WORDS = (
    "statement timeout",  # PostgreSQL: canceling statement due to statement timeout
    "max_statement_time",  # MariaDB: Query execution was interrupted (max_statement_time …)
    "maximum statement execution time",  # MySQL
)


class DataConnection:
    """One named connection: its engine (made at first use) and its snapshot reads."""

    def __init__(self, name: str, spec: ConnectionSpec, environ: Mapping[str, str]) -> None:
        self.name = name
        self.spec = spec
        self._environ = environ
        self._engine: Engine | None = None
        self._lock = threading.Lock()
        self.is_in_memory = False

    @property
    def secrets(self) -> list[str]:
        """What must never be shown: the password, wherever it came from."""
        found = [make_url(self.spec.url.get_secret_value()).password]
        if self.spec.password_env:
            found.append(self._environ.get(self.spec.password_env))
        return [str(s) for s in found if s]

    def url(self) -> URL:
        """The SQLAlchemy URL, with the password and the session's settings in it."""
        spec = self.spec
        url = make_url(spec.url.get_secret_value())
        if spec.password_env:
            password = self._environ.get(spec.password_env)
            if password is None:
                raise ConfigError(
                    f"connection {self.name!r}: the environment variable "
                    f"{spec.password_env} (password_env) is not set"
                )
            url = url.set(password=password)
        if spec.engine == "postgresql":
            options = ["-c TimeZone=UTC"]
            if spec.read_only:
                options.append("-c default_transaction_read_only=on")
            if spec.statement_timeout_s is not None:
                options.append(f"-c statement_timeout={round(spec.statement_timeout_s * 1000)}")
            query = dict(url.query)
            query.update(
                options=" ".join(options),
                connect_timeout=str(spec.connect_timeout_s),
                application_name="exportd",
            )
            return url.set(drivername="postgresql+psycopg", query=query)
        if spec.engine == "mysql":
            return url.set(drivername="mysql+pymysql").update_query_dict({"charset": "utf8mb4"})
        if spec.read_only and url.database and url.database != ":memory:":
            return url.set(
                database=f"file:{url.database}", query={**url.query, "mode": "ro", "uri": "true"}
            )
        return url

    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                self._engine = self._create_engine()
            return self._engine

    def _create_engine(self) -> Engine:
        spec = self.spec
        if spec.engine == "mysql":
            try:
                import pymysql  # noqa: F401
            except ImportError:
                raise ConfigError(
                    f"connection {self.name!r} is MySQL/MariaDB: install exportd[mysql]"
                ) from None
        elif spec.engine == "postgresql":
            try:
                import psycopg  # noqa: F401
            except ImportError:
                raise ConfigError(
                    f"connection {self.name!r} is PostgreSQL: install exportd[postgres]"
                ) from None
        kwargs: dict[str, Any] = {
            "pool_size": spec.pool_size,
            # An export reads on one connection and counts on another: with a pool of
            # one, the count's is opened for it (else it would wait for the read's).
            "max_overflow": 1 if spec.pool_size < 2 else 0,
            "pool_pre_ping": True,
            "pool_recycle": 3600,
            "hide_parameters": True,  # bound values are row data
        }
        if spec.engine == "mysql":
            kwargs["connect_args"] = {"connect_timeout": spec.connect_timeout_s}
        elif spec.engine == "postgresql":
            # No server-side prepared statements (psycopg prepares a query after its fifth
            # run): a replica behind PgBouncer in transaction mode cannot keep them.
            kwargs["connect_args"] = {"prepare_threshold": None}
        engine = create_engine(self.url(), **kwargs)
        if spec.engine == "mysql":
            statements = _mysql_session(spec)
            _run_on_connect(engine, statements)
            return engine.execution_options(**{MYSQL_SESSION_OPTION: tuple(statements)})
        return engine

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction on one snapshot of the database."""
        try:
            conn = self.engine().connect()
        except SQLAlchemyError as exc:
            raise self.unavailable(exc) from None
        try:
            with conn.begin():
                try:
                    _begin_snapshot(conn)
                except SQLAlchemyError as exc:
                    raise self.unavailable(exc) from None
                yield conn
        finally:
            conn.close()

    def check(self) -> str:
        """``ok``, or why not (for ``/readyz`` and ``exportd connections check``)."""
        try:
            with self.read() as conn:
                conn.execute(text("SELECT 1"))
        except RetryableJobError as exc:
            return exc.message.replace(f"connection {self.name!r} is ", "", 1)
        except ConfigError as exc:
            return f"misconfigured: {self.redact(exc.message)}"
        return "ok"

    def unavailable(self, exc: BaseException) -> RetryableJobError:
        return RetryableJobError(
            f"connection {self.name!r} is unavailable: {self.driver_message(exc)}",
            code=UNAVAILABLE,
        )

    def translated(self, exc: BaseException) -> BaseException:
        """A statement timeout as its own error; anything else unchanged (its driver
        message masked of the password)."""
        message = self.driver_message(exc)
        if any(words in message.lower() for words in _TIMEOUT_WORDS):
            return TerminalJobError(
                f"the query on connection {self.name!r} ran past its statement timeout "
                f"({self.spec.statement_timeout_s:g} s)",
                code=TIMED_OUT,
            )
        return exc

    def driver_message(self, exc: BaseException) -> str:
        original = getattr(exc, "orig", None) or exc
        message = getattr(original, "message", None) or str(original)
        lines = str(message).strip().splitlines()
        return self.redact(lines[0][:300] if lines else type(original).__name__)

    def redact(self, message: str) -> str:
        for secret in self.secrets:
            message = message.replace(secret, "***")
        return message

    def dispose(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None


class DataConnections:
    """The named connections of this process, each opened at first use."""

    def __init__(
        self, specs: Mapping[str, ConnectionSpec], environ: Mapping[str, str] | None = None
    ) -> None:
        env = os.environ if environ is None else environ
        self._connections = {name: DataConnection(name, spec, env) for name, spec in specs.items()}

    def names(self) -> list[str]:
        return sorted(self._connections)

    def get(self, name: str) -> DataConnection:
        return self._connections[name]

    def check_all(self) -> dict[str, str]:
        return {name: self._connections[name].check() for name in self.names()}

    def dispose(self) -> None:
        for connection in self._connections.values():
            connection.dispose()


def check_connections(
    specs: Mapping[str, ConnectionSpec],
    wanted: Mapping[str, str],
    environ: Mapping[str, str] | None = None,
) -> None:
    """Refuse at start a source naming a connection that is not configured (``wanted``:
    source name to connection name) and a connection whose password variable is unset."""
    env = os.environ if environ is None else environ
    for source, name in sorted(wanted.items()):
        if name not in specs:
            configured = ", ".join(sorted(specs)) or "none"
            raise ConfigError(
                f"source {source!r} reads connection {name!r}, which is not configured "
                f"(EXPORTD_CONNECTIONS or [connections.{name}] in EXPORTD_CONFIG; "
                f"configured: {configured})"
            )
    for name, spec in sorted(specs.items()):
        if spec.password_env and spec.password_env not in env:
            raise ConfigError(
                f"connection {name!r}: the environment variable {spec.password_env} "
                "(password_env) is not set"
            )


def _mysql_session(spec: ConnectionSpec) -> list[str]:
    statements = ["SET SESSION time_zone = '+00:00'"]
    if spec.read_only:
        statements.append("SET SESSION TRANSACTION READ ONLY")
    if spec.statement_timeout_s is not None:
        # Only one of them exists on a given server: the other is skipped on connect.
        statements.append(f"SET SESSION max_statement_time = {spec.statement_timeout_s:g}")
        statements.append(
            f"SET SESSION max_execution_time = {round(spec.statement_timeout_s * 1000)}"
        )
    return statements


def _run_on_connect(engine: Engine, statements: list[str]) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT VERSION()")
            mariadb = "mariadb" in str(cursor.fetchone()[0]).lower()
            for statement in statements:
                # MariaDB's timeout is max_statement_time; MySQL's, max_execution_time.
                if ("max_statement_time" in statement and not mariadb) or (
                    "max_execution_time" in statement and mariadb
                ):
                    continue
                cursor.execute(statement)
        finally:
            cursor.close()


def _begin_snapshot(conn: Connection) -> None:
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    elif dialect == "mysql":
        conn.exec_driver_sql("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")


def mysql_session(conn: Connection) -> list[str]:
    """The statements this connection's sessions start with (for another connection to
    the same database to start the same way)."""
    mariadb = bool(getattr(conn.dialect, "is_mariadb", False))
    skip = "max_execution_time" if mariadb else "max_statement_time"
    statements = conn.get_execution_options().get(MYSQL_SESSION_OPTION, ())
    return [s for s in statements if skip not in s]

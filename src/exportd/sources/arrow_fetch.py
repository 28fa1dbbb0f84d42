"""Rows fetched as Arrow record batches through ADBC, without a Python object per cell.

SQLAlchemy builds and compiles the SELECT; an ADBC driver runs it and hands back
columnar batches: SQLite's driver reads the rows in C, PostgreSQL's streams them with
``COPY … TO STDOUT (FORMAT BINARY)``.  The caller falls back to row fetching whenever
this path cannot promise the requested types (``None``), so the output never depends on
which path ran.

- SQLite types a result column from the values of its first batch and fails on a later
  value of another kind.  Every column is CAST to its storage class in the SELECT.  When
  the ORDER BY orders rows totally, the rows are read in key ranges on two connections
  (``sqlite_ranges``), each range one batch typed from all its rows.  Otherwise a column
  that comes back typed otherwise (all NULL in the first batch: integers, by SQLite's
  guess) sends the whole export down the row path before anything is written.
- PostgreSQL's driver uses COPY only for a statement without parameters (a bound one
  goes through the extended protocol: 1.6x slower here).  psycopg binds the values on
  the client, quoting them as its ClientCursor does, and COPY runs the result.
- MySQL and MariaDB (named data connections only) have no ADBC driver on PyPI;
  connectorx streams Arrow batches (a million orders in 1.2 s here, where PyMySQL's
  rows took 16.6 s and pandas ``read_sql`` 13.8 s: bench/connections.py).  Its session
  starts as the SQLAlchemy one does (read-only, timeout, UTC) and reads in a transaction
  WITH CONSISTENT SNAPSHOT; PyMySQL quotes the bound values.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, Select, TextualSelect, cast
from sqlalchemy.engine import URL
from sqlalchemy.types import REAL, Integer, Text

from exportd.errors import JobCancelled, RetryableJobError, TerminalJobError
from exportd.sources.compiled import compile_select
from exportd.sources.idle_connections import IdleConnections, close_quietly
from exportd.sources.sqlite_ranges import compiler, key_columns, read_in_ranges
from exportd.sources.text_times import parse_timestamps

SQLITE_BATCH_OPTION = "adbc.sqlite.query.batch_rows"
SQLITE_READ_CACHE_KB = 256
PG_BATCH_BYTES_OPTION = "adbc.postgresql.batch_size_hint_bytes"
# PostgreSQL's driver cuts COPY's stream by bytes (16 MB by default: 137k trades a batch,
# and the worker's memory grew with them): 2 MB is some 17k rows of an 11-column table.
PG_BATCH_BYTES = 2 << 20

# PostgreSQL connections kept for this process's next export (sources/idle_connections.py).
_POSTGRES_IDLE = IdleConnections()
atexit.register(_POSTGRES_IDLE.close_all)
_SQLITE_IDLE = IdleConnections()
atexit.register(_SQLITE_IDLE.close_all)


def arrow_batches(
    conn: Connection, query: Select[Any] | TextualSelect, schema: pa.Schema, batch_size: int
) -> Iterator[pa.RecordBatch] | None:
    """Batches of ``query``'s rows in ``schema``, or None when this path does not apply
    (no driver installed, another database, or types it cannot promise)."""
    dialect = conn.dialect.name
    if dialect == "sqlite" and isinstance(query, Select):
        return _sqlite(conn, query, schema, batch_size)
    if dialect == "postgresql":
        return _postgresql(conn, query, schema)
    if dialect == "mysql":
        return _mysql(conn, query, schema, batch_size)
    return None


def _mysql(
    conn: Connection, query: Select[Any] | TextualSelect, schema: pa.Schema, batch_size: int
) -> Iterator[pa.RecordBatch] | None:
    try:
        import connectorx
    except ImportError:
        return None
    from exportd.sources.connections import mysql_session

    sql, positions = _client_bound(conn, query, schema)
    url = conn.engine.url
    uri = url.set(drivername="mysql", query={}).render_as_string(hide_password=False)
    session = [*mysql_session(conn), "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"]
    try:
        reader = connectorx.read_sql(
            uri, sql, return_type="arrow_stream", batch_size=batch_size, pre_execution_query=session
        )
    except BaseException as exc:  # a Rust panic is a BaseException
        raise _connectorx_error(exc, url.password) from None
    if positions is not None:
        reader = _select(reader, positions, schema)
    if not _castable(reader.schema, schema):
        return None
    return _connectorx_batches(reader, schema, url.password)


def _connectorx_batches(
    reader: pa.RecordBatchReader, schema: pa.Schema, password: str | None
) -> Iterator[pa.RecordBatch]:
    try:
        for batch in reader:
            if batch.num_rows:
                yield _in_schema(batch, schema)
    except BaseException as exc:
        # connectorx's Rust panics (a statement failing mid-stream) arrive as pyo3's
        # PanicException, a BaseException.
        raise _connectorx_error(exc, password) from None
    finally:
        reader.close()


def _connectorx_error(exc: BaseException, password: str | None) -> BaseException:
    """The database's message (``ERROR 1969 (70100): …``), the password masked; an error
    in the statement itself is terminal, anything else (the server, the network) not."""
    if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit | JobCancelled):
        return exc
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    found = re.search(r"ERROR (\d+) \(\w+\): (.*?)( \}|$)", text)
    number, message = (int(found.group(1)), found.group(2)) if found else (0, text)
    if password:
        message = message.replace(password, "***")
    message = f"database error: {message[:300]}"
    # 1054 unknown column, 1064 syntax, 1146 no such table, 1142/1143 denied, 1969/3024
    # statement timeouts (sources/connections.py names them).
    if number in (1054, 1064, 1146, 1142, 1143, 1969, 3024):
        return TerminalJobError(message, code="source_query_failed")
    return RetryableJobError(message, code="transient_error")


def _client_bound(
    conn: Connection, query: Select[Any] | TextualSelect, schema: pa.Schema
) -> tuple[str, list[int] | None]:
    """The statement of the requested columns with its values quoted on the client by the
    session's own driver (COPY and connectorx take no parameters), and, for a textual
    query, the requested columns' positions in its result."""
    query, positions = _narrowed(query, schema)
    compiled = compile_select(query, conn.dialect)
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        import psycopg

        assert isinstance(raw, psycopg.Connection)
        return psycopg.ClientCursor(raw).mogrify(compiled.sql, compiled.values), positions
    assert raw is not None
    cursor = raw.cursor()
    try:
        return str(cursor.mogrify(compiled.sql, compiled.values)), positions
    finally:
        cursor.close()


def _narrowed(
    query: Select[Any] | TextualSelect, schema: pa.Schema
) -> tuple[Select[Any] | TextualSelect, list[int] | None]:
    """A SELECT of the requested columns only, or a textual one and the requested
    columns' positions in its result."""
    if isinstance(query, Select):
        by_name = {c.name: c for c in query.selected_columns}
        narrowed = query.with_only_columns(
            *(by_name[f.name] for f in schema), maintain_column_froms=True
        )
        return narrowed, None
    names = [c.name for c in query.selected_columns]
    return query, [names.index(f.name) for f in schema]


def _sqlite(
    conn: Connection, query: Select[Any], schema: pa.Schema, batch_size: int
) -> Iterator[pa.RecordBatch] | None:
    try:
        import adbc_driver_sqlite.dbapi as adbc_sqlite
    except ImportError:
        return None
    database = conn.engine.url.database
    if not database or database == ":memory:":
        return None  # another connection would see another, empty database
    typed = query.with_only_columns(
        *(_sqlite_cast(query, field) for field in schema), maintain_column_froms=True
    )
    # A URI, read-only; the path quoted so that '?', '#' or '%' in it stay the path's.
    uri = f"file:{quote(str(Path(database).resolve()), safe='/')}?mode=ro"
    key = key_columns(query)
    if key is not None:  # in ranges on two connections (sources/sqlite_ranges.py)
        try:
            ranged = read_in_ranges(
                lambda autocommit: _sqlite_reader(adbc_sqlite, uri, autocommit=autocommit),
                compiler(conn.dialect),
                typed,
                key,
                lambda table: _range_in_schema(table, schema),
                batch_size,
            )
        except BaseException as exc:
            raise _translated(exc) from exc
        if ranged is not None:
            return _translating(ranged)
    # Kept for the next export, as PostgreSQL's: opening one (and setting its cache) was
    # a fifth of a ten-row export.  Keyed by the file itself, so a file replaced at the
    # same path is never read through a connection to the old one.
    kept_as = _file_identity(uri, database)
    adbc, _ = _SQLITE_IDLE.take(kept_as, lambda: _sqlite_reader(adbc_sqlite, uri, autocommit=True))
    compiled = compile_select(typed, conn.dialect)

    def run(cursor: Any) -> pa.RecordBatchReader:
        # No mmap_size: mapped pages count in the worker's memory (RSS grew with the
        # file, 350 MB at a million rows), which its memory limit would hold against it.
        cursor.adbc_statement.set_options(**{SQLITE_BATCH_OPTION: str(batch_size)})
        cursor.execute(compiled.sql, compiled.params())
        return cursor.fetch_record_batch()

    return _stream(
        adbc,
        run,
        schema,
        typed_by_guess=True,
        finished=lambda done: _SQLITE_IDLE.give_back(kept_as, done),
    )


def _file_identity(uri: str, path: str) -> str:
    try:
        found = os.stat(path)
    except OSError:
        return uri  # the connection says what is wrong
    return f"{uri}#{found.st_dev}:{found.st_ino}"


def _sqlite_reader(driver: Any, uri: str, *, autocommit: bool) -> Any:
    """A read-only ADBC connection with a small page cache: a streamed read visits each
    page once, and SQLite's default 2 MB a connection (four in a ranged read) held
    nothing worth keeping (a million trades to Parquet: 7 MB less at the peak)."""
    conn = driver.connect(uri, autocommit=autocommit)
    try:
        cursor = conn.cursor()
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_READ_CACHE_KB}")
        cursor.close()
    except BaseException:
        conn.close()
        raise
    return conn


def _sqlite_cast(query: Select[Any], field: pa.Field) -> Any:
    """The column CAST to the one storage class SQLite will then return for it."""
    column = {c.name: c for c in query.selected_columns}[field.name]
    kind = field.type
    if pa.types.is_floating(kind):
        storage: Any = REAL()
    elif pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        storage = Integer()
    else:  # text, and timestamps and dates, which SQLite keeps as ISO text
        storage = Text()
    return cast(column, storage).label(field.name)


def _postgresql(
    conn: Connection, query: Select[Any] | TextualSelect, schema: pa.Schema
) -> Iterator[pa.RecordBatch] | None:
    try:
        import adbc_driver_postgresql.dbapi as adbc_postgresql
        import psycopg  # noqa: F401 - the client-side quoting (_client_bound)
    except ImportError:
        return None
    sql, positions = _client_bound(conn, query, schema)
    uri = _libpq_uri(conn.engine.url)
    try:
        adbc = _postgres_session(adbc_postgresql, uri)
    except Exception as exc:
        raise _translated(exc) from exc

    def run(cursor: Any) -> pa.RecordBatchReader:
        cursor.adbc_statement.set_options(**{PG_BATCH_BYTES_OPTION: str(PG_BATCH_BYTES)})
        cursor.execute(sql)
        reader = cursor.fetch_record_batch()
        return reader if positions is None else _select(reader, positions, schema)

    return _stream(adbc, run, schema, finished=lambda done: _POSTGRES_IDLE.give_back(uri, done))


def _postgres_session(driver: Any, uri: str) -> Any:
    """A connection in exportd's session settings: kept from an earlier export when one
    is idle, else new.  A kept one that fails the first statement (the server restarted
    or ended the session meanwhile) is replaced by a new one."""

    def connect() -> Any:
        return driver.connect(uri, autocommit=True)

    adbc, kept = _POSTGRES_IDLE.take(uri, connect)
    try:
        _use_utc(adbc)
        return adbc
    except Exception:
        close_quietly(adbc)
        if not kept:
            raise
    adbc = connect()
    try:
        _use_utc(adbc)
    except BaseException:
        close_quietly(adbc)
        raise
    return adbc


def _use_utc(adbc: Any) -> None:
    """As exportd's own connections: days and hours computed in SQL are UTC's."""
    cursor = adbc.cursor()
    try:
        cursor.execute("SET TimeZone = 'UTC'")
    finally:
        cursor.close()


def _stream(
    adbc: Any,
    run: Callable[[Any], pa.RecordBatchReader],
    schema: pa.Schema,
    *,
    typed_by_guess: bool = False,
    finished: Callable[[Any], None] = close_quietly,
) -> Iterator[pa.RecordBatch] | None:
    """Run the statement on its own connection; the batches in ``schema``, or None (and
    the connection closed) when the driver typed a column otherwise.  SQLite's driver
    guesses a column's type from its first batch (``typed_by_guess``): integers where a
    number is wanted mean the column was NULL all through it, and a later batch's first
    price would fail the export halfway.  The connection goes to ``finished`` when the
    read ran to its end; stopped early or failed, it is closed."""
    try:
        cursor = adbc.cursor()
        reader = run(cursor)
        if not _castable(reader.schema, schema, guessed=typed_by_guess):
            cursor.close()
            adbc.close()
            return None
    except BaseException as exc:
        close_quietly(adbc)
        raise _translated(exc) from exc
    return _cast_batches(adbc, cursor, reader, schema, finished)


def _select(
    reader: pa.RecordBatchReader, positions: list[int], schema: pa.Schema
) -> pa.RecordBatchReader:
    """The requested columns of a textual query's result, by position."""
    fields = [
        reader.schema.field(i).with_name(f.name) for i, f in zip(positions, schema, strict=True)
    ]
    picked = pa.schema(fields)

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            yield pa.RecordBatch.from_arrays([batch.column(i) for i in positions], schema=picked)

    return pa.RecordBatchReader.from_batches(picked, batches())


def _libpq_uri(url: URL) -> str:
    """libpq's URI of the same database and session settings (a named connection's
    ``options``): its query percent-encoded, as libpq decodes it ('+' stays a '+')."""
    base = url.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
    if not url.query:
        return base
    return f"{base}?{urlencode(dict(url.query), quote_via=quote)}"


def _castable(found: pa.Schema, wanted: pa.Schema, *, guessed: bool = False) -> bool:
    """Whether every column the driver typed can become the wanted type without loss:
    the same kind, or text for a date or timestamp (SQLite), or a number for a float —
    but not integers for a float when the types were ``guessed`` from values (SQLite)."""
    for have, want in zip(found.types, wanted.types, strict=True):
        if guessed and pa.types.is_integer(have) and pa.types.is_floating(want):
            return False
        if have == want:
            continue
        if pa.types.is_string(have) and (pa.types.is_timestamp(want) or pa.types.is_date(want)):
            continue
        if pa.types.is_timestamp(have) and pa.types.is_timestamp(want):
            continue
        if pa.types.is_floating(want) and (
            pa.types.is_floating(have) or pa.types.is_decimal(have) or pa.types.is_integer(have)
        ):
            continue
        if pa.types.is_boolean(want) and pa.types.is_integer(have):
            continue
        if pa.types.is_integer(want) and pa.types.is_integer(have):
            continue
        return False
    return True


def _cast_batches(
    adbc: Any,
    cursor: Any,
    reader: pa.RecordBatchReader,
    schema: pa.Schema,
    finished: Callable[[Any], None],
) -> Iterator[pa.RecordBatch]:
    ended = False
    try:
        for batch in reader:
            if batch.num_rows:
                yield _in_schema(batch, schema)
        ended = True
    except Exception as exc:
        raise _translated(exc) from exc
    finally:
        with contextlib.suppress(Exception):
            cursor.close()
        (finished if ended else close_quietly)(adbc)


def _in_schema(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [_cast(col, f.type) for col, f in zip(batch.columns, schema, strict=True)],
        schema=schema,
    )


def _range_in_schema(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """A range read as one batch, in ``schema``: a column NULL all through it (typed as
    integers by SQLite's guess) becomes NULLs of its type."""
    table = table.combine_chunks()
    columns = []
    for found, field in zip(table.columns, schema, strict=True):
        if found.null_count == len(found):
            columns.append(pa.nulls(len(found), field.type))
        elif _castable(pa.schema([("c", found.type)]), pa.schema([("c", field.type)])):
            columns.append(_cast(found, field.type))
        else:
            raise TerminalJobError(
                f"column {field.name!r} came back as {found.type}, not {field.type}",
                code="source_query_failed",
            )
    return pa.Table.from_arrays(columns, schema=schema)


def _translating(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    try:
        yield from batches
    except Exception as exc:
        raise _translated(exc) from exc
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()


def _translated(exc: BaseException) -> BaseException:
    """A driver error as the queue's kind of failure, with the driver's first line only:
    ADBC appends the statement, bound values included ("Query was: …"), which must not
    reach logs or users."""
    from adbc_driver_manager import Error, OperationalError, ProgrammingError

    if not isinstance(exc, Error):
        return exc
    text = str(exc).split("\n", 1)[0].split("Query was:", 1)[0].strip()[:300]
    message = f"database error: {text or type(exc).__name__}"
    if isinstance(exc, ProgrammingError):  # the statement itself: retrying cannot help
        return TerminalJobError(message, code="source_query_failed")
    if isinstance(exc, OperationalError):
        return RetryableJobError(message, code="transient_error")
    return RetryableJobError(message, code="internal_error")


def _cast(array: pa.Array, wanted: pa.DataType) -> pa.Array:
    if array.type == wanted:
        return array
    if pa.types.is_string(array.type) and pa.types.is_timestamp(wanted):
        return parse_timestamps(array, wanted)
    if pa.types.is_boolean(wanted) and pa.types.is_integer(array.type):
        return pc.not_equal(array, 0)
    if pa.types.is_decimal(array.type) and pa.types.is_floating(wanted):
        # Arrow's decimal -> double cast is not correctly rounded (DECIMAL 19.99 becomes
        # 19.990000000000002); through its text it is the nearest double, as a driver's.
        return pc.cast(pc.cast(array, pa.string()), wanted)
    return pc.cast(array, wanted)

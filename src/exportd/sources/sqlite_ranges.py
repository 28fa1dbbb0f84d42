"""SQLite reads cut into key ranges, read on two connections at once.

SQLite runs a query on one core: an ADBC read of a million trades takes about a second
of CPU while writing them as Parquet takes 0.4 s, so on two cores the read alone was
the export's length.  When the ORDER BY orders the rows totally — plain NOT NULL
columns of the one table read, ascending, ending with its primary key — the rows are
cut into ranges of ``RANGE_ROWS``: each bound is found by stepping ``RANGE_ROWS``
along the index with ``LIMIT 1 OFFSET``, and a range is the ``RANGE_ROWS`` rows from
its bound on (``(k1, k2) >= (:lo1, :lo2) … LIMIT``: no upper bound to test on every
row).  Two threads read the ranges in turn; the batches come out in the query's order,
with at most three ranges (some 50,000 rows) read and not yet written.  A million
trades to Parquet: 489,000 to 602,000 → 929,000 rows/s here.  Rows that fit in one
range are read on one connection, as that range.

- One snapshot, as a single read would see: each connection holds one read transaction
  for the whole export, and ``PRAGMA data_version`` on another connection, read before
  the first of them begins and after the last, says whether anything was committed in
  between.  If something was (the window is well under a millisecond), the caller reads
  on one connection instead.
- The bound's test on each row carries no affinity (``(+k1, +k2) >= (…)``, beside a
  plain ``k1 >= :lo1`` that the index seeks to): a timestamp column is declared
  DATETIME, whose NUMERIC affinity had SQLite try each row's text and the bound's as a
  number, twice a row.  The bounds are the values as stored, so without affinity they
  compare as with it; ``+`` keeps the collation.  With the upper bound gone, a million
  trades to Parquet: 1.34 → 1.14 s (medians of eight, taking turns).
- A range is read as one ADBC batch, so SQLite's typing of a column from the values of
  the first batch covers the whole range: a column NULL through a range comes back as
  integers (SQLite's guess) and becomes the column's type here.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pyarrow as pa
from sqlalchemy import Column, Select, Table, bindparam, tuple_
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.types import NullType

from exportd.sources.compiled import CompiledSelect, compile_select

RANGE_ROWS = 16_384
READERS = 2
SNAPSHOT_TRIES = 3

Compile = Callable[[Select[Any]], CompiledSelect]
Connect = Callable[..., Any]


def key_columns(query: Select[Any]) -> list[Column[Any]] | None:
    """The ORDER BY's columns when they order the rows totally, else None."""
    if (
        query._limit_clause is not None
        or query._offset_clause is not None
        or query._group_by_clauses
        or query._having_criteria
        or query._distinct
    ):
        return None
    froms = final_froms(query)
    if len(froms) != 1 or not isinstance(froms[0], Table):
        return None
    table = froms[0]
    columns: list[Column[Any]] = []
    for clause in query._order_by_clauses:
        if isinstance(clause, UnaryExpression):
            if clause.modifier is not operators.asc_op:
                return None
            clause = clause.element
        # A NULL key would match no range: NULL compares as unknown.
        if not isinstance(clause, Column) or clause.table is not table or clause.nullable:
            return None
        columns.append(clause)
    primary = list(table.primary_key.columns)
    if not columns or len(primary) != 1 or columns[-1] is not primary[0]:
        return None
    return columns


def final_froms(query: Select[Any]) -> list[Any]:
    """``query.get_final_froms()`` without its cost: it compiles the whole statement to
    a string first (a quarter of a 10-row read), though a Core SELECT's FROM list needs
    no compiler.  An ORM statement's does: it takes the method."""
    if query._propagate_attrs.get("compile_state_plugin") is not None:
        return list(query.get_final_froms())
    state: Any = query._compile_state_factory(query, None)  # type: ignore[arg-type]
    return list(state._get_display_froms())


def read_in_ranges(
    connect: Connect,
    compile_query: Compile,
    typed: Select[Any],
    key: list[Column[Any]],
    cast_range: Callable[[pa.Table], pa.Table],
    batch_size: int,
) -> Iterator[pa.RecordBatch] | None:
    """Batches of ``typed`` (ordered by ``key``), or None when one snapshot could not be
    had.  Rows that fit in one range are read as that range on the connection that
    looked: one connection, one snapshot, nothing to watch.  The readers' connections,
    threads and statements cost more than they save there (10,000 trades took 47 ms
    instead of 40), and so does the watch's."""
    rows = max(RANGE_ROWS, batch_size)
    alone = connect(autocommit=False)
    try:
        fits = _fits(alone, compile_query, typed, key, rows)
    except BaseException:
        _close_all([alone])
        raise
    if fits:
        return _whole(alone, compile_query(typed), cast_range, rows, batch_size)
    _close_all([alone])
    for _ in range(SNAPSHOT_TRIES):
        watch = connect(autocommit=True)
        opened: list[Any] = []
        try:
            before = _data_version(watch)
            opened.append(connect(autocommit=False))
            # The scout's first look begins its read transaction: its snapshot.
            bounds = _bounds(opened[0], compile_query, typed, key, rows)
            first = next(bounds, None)
            if first is None:
                return _whole(opened[0], compile_query(typed), cast_range, rows, batch_size)
            opened += [connect(autocommit=False) for _ in range(READERS)]
            for conn in opened[1:]:
                _fetch_one(conn, "SELECT 1 FROM sqlite_schema LIMIT 1", [])
            if _data_version(watch) == before:
                scout, *readers = opened
                found = itertools.chain([first], bounds)
                read = _RangeReads(compile_query, typed, key, cast_range, rows)
                return _ranges(scout, readers, found, read, batch_size)
        except BaseException:
            _close_all(opened)
            raise
        finally:
            watch.close()
        _close_all(opened)
    return None


class _RangeReads:
    """Reads a range as one ADBC batch, so that its types come from all its rows."""

    def __init__(
        self,
        compile_query: Compile,
        typed: Select[Any],
        key: list[Column[Any]],
        cast_range: Callable[[pa.Table], pa.Table],
        rows: int,
    ) -> None:
        # Two shapes, each compiled once: the first range, and one from a bound.
        self.first = compile_query(typed.limit(rows))
        self.following = compile_query(_from_bound(typed, key).limit(rows))
        self.cast_range, self.rows = cast_range, rows

    def __call__(self, conn: Any, low: tuple[Any, ...] | None) -> pa.Table:
        statement = self.first if low is None else self.following
        return _read_range(conn, statement, self.rows, self.cast_range, low)


def _read_range(
    conn: Any,
    statement: CompiledSelect,
    rows: int,
    cast_range: Callable[[pa.Table], pa.Table],
    low: tuple[Any, ...] | None = None,
) -> pa.Table:
    cursor = conn.cursor()
    try:
        cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(rows + 1)})
        cursor.execute(statement.sql, statement.params(_named(low, "lo")))
        return cast_range(cursor.fetch_arrow_table())
    finally:
        cursor.close()


def _whole(
    conn: Any,
    statement: CompiledSelect,
    cast_range: Callable[[pa.Table], pa.Table],
    rows: int,
    batch_size: int,
) -> Iterator[pa.RecordBatch]:
    """All the rows (no more than one range's) read at once on ``conn``."""
    try:
        yield from _read_range(conn, statement, rows, cast_range).to_batches(batch_size)
    finally:
        _close_all([conn])


def _ranges(
    scout: Any,
    readers: list[Any],
    bounds: Iterator[tuple[Any, ...]],
    read: _RangeReads,
    batch_size: int,
) -> Iterator[pa.RecordBatch]:
    idle: queue.Queue[Any] = queue.Queue()
    for conn in readers:
        idle.put(conn)

    def read_on_an_idle_reader(low: tuple[Any, ...] | None) -> pa.Table:
        conn = idle.get()
        try:
            return read(conn, low)
        finally:
            idle.put(conn)

    pool = ThreadPoolExecutor(READERS, thread_name_prefix="exportd-range")
    pending: deque[Future[pa.Table]] = deque()
    try:
        for low in _none_then(bounds):
            pending.append(pool.submit(read_on_an_idle_reader, low))
            if len(pending) > READERS:
                yield from pending.popleft().result().to_batches(batch_size)
        while pending:
            yield from pending.popleft().result().to_batches(batch_size)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        _close_all([scout, *readers])


def _bounds(
    scout: Any, compile_query: Compile, typed: Select[Any], key: list[Column[Any]], rows: int
) -> Iterator[tuple[Any, ...]]:
    """The key of every ``rows``-th row, found as they are needed."""
    step = _step(typed, key, rows)
    first = compile_query(step)
    found = _fetch_one(scout, first.sql, first.params())
    if found is None:
        return
    following = compile_query(_from_bound(step, key))
    while found is not None:
        yield found
        found = _fetch_one(scout, following.sql, following.params(_named(found, "lo")))


def _fits(
    conn: Any, compile_query: Compile, typed: Select[Any], key: list[Column[Any]], rows: int
) -> bool:
    """Whether the rows fit in one range: no ``rows``-th row (the look begins ``conn``'s
    read transaction)."""
    first = compile_query(_step(typed, key, rows))
    return _fetch_one(conn, first.sql, first.params()) is None


def _step(typed: Select[Any], key: list[Column[Any]], rows: int) -> Select[Any]:
    return typed.with_only_columns(*key, maintain_column_froms=True).limit(1).offset(rows)


def _none_then(bounds: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...] | None]:
    yield None  # the first range starts at the first row
    yield from bounds


def _from_bound(typed: Select[Any], key: list[Column[Any]]) -> Select[Any]:
    """The rows from a key on (included).  The bound is bound as SQLite stored it (no
    type's processing: it was read raw, a timestamp as its text)."""
    low = _placeholders(key, "lo")
    typed = typed.where(key[0] >= low[0])  # what the index seeks to
    if len(key) > 1:  # ties on the first column, told apart by the rest, row by row
        typed = typed.where(tuple_(*(_without_affinity(c) for c in key)) >= tuple_(*low))
    return typed


def _without_affinity(column: Column[Any]) -> Any:
    return UnaryExpression(column, operator=operators.custom_op("+"))


def _placeholders(key: list[Column[Any]], prefix: str) -> list[Any]:
    return [
        bindparam(f"{prefix}_{i}", None, type_=NullType(), required=False) for i in range(len(key))
    ]


def _named(values: tuple[Any, ...] | None, prefix: str) -> dict[str, Any]:
    return {f"{prefix}_{i}": value for i, value in enumerate(values or ())}


def _fetch_one(conn: Any, sql: str, params: list[Any]) -> tuple[Any, ...] | None:
    cursor = conn.cursor()
    try:
        cursor.execute(sql, params)
        row = cursor.fetchone()
        return tuple(row) if row is not None else None
    finally:
        cursor.close()


def _data_version(conn: Any) -> int:
    found = _fetch_one(conn, "PRAGMA data_version", [])
    assert found is not None
    return int(found[0])


def _close_all(connections: list[Any]) -> None:
    for conn in connections:
        with contextlib.suppress(Exception):
            conn.close()


def compiler(dialect: Dialect) -> Compile:
    """A SELECT compiled as ADBC takes it: text and positional parameters."""
    return lambda query: compile_select(query, dialect)

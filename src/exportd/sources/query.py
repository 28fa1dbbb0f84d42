"""A tabular source defined by one SELECT scoped to the owner.

The query builder gets the owner and the validated params and returns a SELECT whose
labelled columns include the source's columns; counting and streaming batches are the
same for every such source.  Rows come as Arrow batches straight from the database's
ADBC driver when one is installed (``arrow_fetch``); otherwise they are fetched in
partitions and turned into Arrow a column at a time (SQLite's text timestamps and dates
parsed by Arrow, not per cell).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel
from sqlalchemy import Connection, Select, String, TextualSelect, func, select, type_coerce

from exportd.errors import TerminalJobError
from exportd.sources.arrow_fetch import arrow_batches
from exportd.sources.base import ColumnSpec, TabularSource
from exportd.sources.text_times import parse_timestamps

# A connection execution option: False keeps the row path (EXPORTD_ARROW_FETCH=false).
ARROW_FETCH_OPTION = "exportd_arrow_fetch"

ARROW_TYPES = {
    "integer": pa.int64(),
    "number": pa.float64(),
    "string": pa.string(),
    "boolean": pa.bool_(),
    "datetime": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
}
TABULAR_FORMATS = ("csv", "jsonl", "json", "xlsx", "parquet")

# A SELECT built with SQLAlchemy, or a textual one (declarative SQL sources).
Query = Select[Any] | TextualSelect
QueryBuilder = Callable[[str, Any], Query]


class QuerySource(TabularSource):
    def __init__(
        self,
        *,
        name: str,
        title: str,
        params_model: type[BaseModel],
        columns: tuple[ColumnSpec, ...],
        query: QueryBuilder,
        column_presets: dict[str, tuple[str, ...]] | None = None,
        formats: tuple[str, ...] = TABULAR_FORMATS,
        connection: str | None = None,
    ) -> None:
        super().__init__(
            name=name,
            title=title,
            kind="rows",
            params_model=params_model,
            formats=formats,
            columns=columns,
            column_presets=column_presets or {},
            connection=connection,
        )
        object.__setattr__(self, "_query", query)

    def query(self, owner_id: str, params: BaseModel) -> Query:
        builder: QueryBuilder = object.__getattribute__(self, "_query")
        built = builder(owner_id, params)
        if self.connection is not None and not _binds(built, owner_id):
            # Another application's database: a query that does not scope its rows to
            # the owner could show one user another's rows.
            raise TerminalJobError(
                f"source {self.name!r} does not bind the owner: refused",
                code="source_query_failed",
            )
        return built

    def count(self, conn: Connection, owner_id: str, params: BaseModel) -> int:
        query = self.query(owner_id, params)
        rows = (query if isinstance(query, TextualSelect) else query.order_by(None)).subquery()
        return int(conn.execute(select(func.count()).select_from(rows)).scalar_one())

    def batches(
        self,
        conn: Connection,
        owner_id: str,
        params: BaseModel,
        columns: list[str],
        *,
        batch_size: int,
    ) -> Iterator[pa.RecordBatch]:
        schema = self.arrow_schema(columns)
        query = self.query(owner_id, params)
        if conn.get_execution_options().get(ARROW_FETCH_OPTION, True):
            fetched = arrow_batches(conn, query, schema, batch_size)
            if fetched is not None:
                yield from fetched
                return
        if isinstance(query, TextualSelect):
            yield from _textual_batches(conn, query, schema, batch_size)
            return
        by_name = {c.name: c for c in query.selected_columns}
        # SQLite keeps timestamps and dates as ISO text: fetch the text, parse whole
        # columns in Arrow.
        as_text = conn.dialect.name == "sqlite"
        chosen = [
            type_coerce(by_name[name], String).label(name)
            if as_text and _temporal(schema.field(name).type)
            else by_name[name]
            for name in columns
        ]
        narrowed = query.with_only_columns(*chosen, maintain_column_froms=True)
        result = conn.execution_options(stream_results=True, yield_per=batch_size).execute(narrowed)
        for rows in result.partitions(batch_size):
            arrays = [
                column_array(values, schema.field(i).type, from_text=as_text)
                for i, values in enumerate(zip(*rows, strict=True))
            ]
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)

    def arrow_schema(self, columns: list[str]) -> pa.Schema:
        types = {c.name: c.type for c in self.columns}
        return pa.schema([(name, ARROW_TYPES[types[name]]) for name in columns])


_PROBE_OWNER = "exportd-owner-probe\x00"


def unscoped(source: QuerySource) -> bool:
    """Whether the source's query, built for a probe owner with the params' defaults,
    leaves the owner unbound (a source whose params have no defaults is checked at each
    export instead)."""
    builder: QueryBuilder = object.__getattribute__(source, "_query")
    try:
        built = builder(_PROBE_OWNER, source.params_model.model_construct())
    except Exception:
        return False
    return not _binds(built, _PROBE_OWNER)


def _binds(query: Query, owner_id: str) -> bool:
    values = query.compile().params.values()
    return any(value == owner_id for value in values)


def _textual_batches(
    conn: Connection, query: TextualSelect, schema: pa.Schema, batch_size: int
) -> Iterator[pa.RecordBatch]:
    """Run the text as written (its ORDER BY holds: no subquery around it) and keep the
    requested columns; its typed columns arrive as Python values."""
    positions = {c.name: i for i, c in enumerate(query.selected_columns)}
    wanted = [positions[field.name] for field in schema]
    result = conn.execution_options(stream_results=True, yield_per=batch_size).execute(query)
    for rows in result.partitions(batch_size):
        arrays = [
            column_array(tuple(row[i] for row in rows), field.type, from_text=False)
            for i, field in zip(wanted, schema, strict=True)
        ]
        yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def _temporal(arrow_type: pa.DataType) -> bool:
    return bool(pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type))


def column_array(values: tuple[Any, ...], arrow_type: pa.DataType, *, from_text: bool) -> pa.Array:
    if from_text and pa.types.is_timestamp(arrow_type):
        return parse_timestamps(pa.array(values, pa.string()), arrow_type)
    if from_text and pa.types.is_date(arrow_type):
        return pc.cast(pa.array(values, pa.string()), arrow_type)
    return pa.array(values, type=arrow_type)

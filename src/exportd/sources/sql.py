"""Declarative SQL sources from the config file: a parameterised SELECT, its columns and
its params, with no Python to write.

```toml
[[sql_sources]]
name = "big_wins"
title = "Big wins"
sql = '''SELECT symbol, pnl, closed_at FROM demo_trades
         WHERE owner_id = :owner_id AND pnl >= :min_pnl ORDER BY pnl DESC'''
columns = [{name = "symbol", type = "string"}, {name = "pnl", type = "number"},
           {name = "closed_at", type = "datetime"}]
params = [{name = "min_pnl", type = "number", required = true}]
```

``connection = "NAME"`` reads it from a named data connection (sources/connections.py)
instead of exportd's own database.

The query must bind ``:owner_id`` (a source that does not is refused at start: it could
show one user another's rows) and may bind only the params it declares.  Params not
given are bound as NULL, so a query can say ``(:symbol IS NULL OR symbol = :symbol)``.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model
from sqlalchemy import (
    BindParameter,
    Boolean,
    ColumnElement,
    Date,
    Float,
    Integer,
    String,
    TextualSelect,
    bindparam,
    cast,
    column,
    text,
)
from sqlalchemy.types import TypeDecorator

from exportd.db.types import UTCDateTime
from exportd.errors import ConfigError
from exportd.sources.base import ColumnSpec
from exportd.sources.params import DateRange
from exportd.sources.query import QuerySource

ColumnType = Literal["integer", "number", "string", "boolean", "datetime", "date"]
TabularFormat = Literal["csv", "jsonl", "json", "xlsx", "parquet"]


class _CastFloat(TypeDecorator[float]):
    """A number param that PostgreSQL sees typed (``CAST($1 AS FLOAT)``) like the others:
    SQLAlchemy's psycopg dialect casts strings, integers and dates but not floats or
    booleans, and an untyped NULL in ``:p IS NULL`` is refused as ambiguous."""

    impl = Float
    cache_ok = True

    def bind_expression(self, bindvalue: BindParameter[float]) -> ColumnElement[float]:
        return cast(bindvalue, Float)


class _CastBoolean(TypeDecorator[bool]):
    """A boolean param typed for PostgreSQL, as ``_CastFloat``."""

    impl = Boolean
    cache_ok = True

    def bind_expression(self, bindvalue: BindParameter[bool]) -> ColumnElement[bool]:
        return cast(bindvalue, Boolean)


_SQL_TYPES: dict[str, Any] = {
    "integer": Integer(),
    "number": _CastFloat(),
    "string": String(),
    "boolean": _CastBoolean(),
    "datetime": UTCDateTime(),
    "date": Date(),
}
_PARAM_TYPES: dict[str, type] = {
    "integer": int,
    "number": float,
    "string": str,
    "boolean": bool,
    "date": date,
}
_BINDS = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
Identifier = Field(pattern=r"^[a-z_][a-z0-9_]{0,63}$")


def _all_formats() -> list[TabularFormat]:
    return ["csv", "jsonl", "json", "xlsx", "parquet"]


class SqlColumn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Identifier
    type: ColumnType = "string"
    label: str | None = None


class SqlParam(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Identifier
    type: Literal["integer", "number", "string", "boolean", "date"] = "string"
    required: bool = False
    description: str = ""


class SqlSourceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Identifier
    title: str = Field(min_length=1, max_length=200)
    sql: str = Field(min_length=1)
    columns: list[SqlColumn] = Field(min_length=1)
    params: list[SqlParam] = Field(default_factory=list)
    formats: list[TabularFormat] = Field(default_factory=_all_formats)
    connection: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]{0,63}$")


def sql_source(spec: SqlSourceSpec) -> QuerySource:
    """Build the source, or refuse the spec with a message naming it and the fault."""
    where = f"EXPORTD_CONFIG sql_sources {spec.name!r}"
    binds = set(_BINDS.findall(spec.sql))
    if "owner_id" not in binds:
        raise ConfigError(f"{where}: the query must bind :owner_id to scope rows to their owner")
    declared = {p.name for p in spec.params}
    if "owner_id" in declared:
        raise ConfigError(f"{where}: owner_id is bound by exportd, not a param")
    undeclared = sorted(binds - declared - {"owner_id"})
    if undeclared:
        raise ConfigError(f"{where}: binds undeclared params {undeclared}")
    params_model = _params_model(spec)
    # Typed binds: PostgreSQL must know a param's type even when it is NULL.
    typed = [bindparam("owner_id", type_=String())]
    typed += [bindparam(p.name, type_=_SQL_TYPES[p.type]) for p in spec.params]
    statement = (
        text(spec.sql)
        .bindparams(*typed)
        .columns(*(column(c.name, _SQL_TYPES[c.type]) for c in spec.columns))
    )

    def query(owner_id: str, params: BaseModel) -> TextualSelect:
        return statement.bindparams(owner_id=owner_id, **params.model_dump())

    return QuerySource(
        name=spec.name,
        title=spec.title,
        params_model=params_model,
        columns=tuple(ColumnSpec(c.name, c.type, c.label or c.name) for c in spec.columns),
        query=query,
        formats=tuple(spec.formats),
        connection=spec.connection,
    )


def _params_model(spec: SqlSourceSpec) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for param in spec.params:
        kind = _PARAM_TYPES[param.type]
        if param.required:
            fields[param.name] = (kind, Field(description=param.description))
        else:
            fields[param.name] = (kind | None, Field(default=None, description=param.description))
    model_name = "".join(part.title() for part in spec.name.split("_")) + "Params"
    if {"date_from", "date_to"} <= fields.keys():  # the shared rule: not a backwards range
        return create_model(model_name, __base__=_DateRangeParams, **fields)
    return create_model(model_name, __config__=ConfigDict(extra="forbid"), **fields)


class _DateRangeParams(DateRange):
    model_config = ConfigDict(extra="forbid")

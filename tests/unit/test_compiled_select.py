"""SELECTs compiled for ADBC, COPY and connectorx: each shape once, its values its own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from exportd.sources import compiled as module
from exportd.sources.compiled import compile_select

trades = Table(
    "trades",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("owner_id", String),
    Column("tag", String),
    Column("opened_at", DateTime),
)


def _query(owner: str, since: datetime, limit: int) -> Any:
    return (
        select(trades.c.id, trades.c.tag)
        .where(trades.c.owner_id == owner, trades.c.opened_at >= since)
        .order_by(trades.c.id)
        .limit(limit)
    )


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The text of each statement actually compiled."""
    done: list[str] = []
    real = module._compiled

    def counted(query: Any, dialect: Any, key: Any) -> Any:
        shape = real(query, dialect, key)
        done.append(str(shape.compiled))
        return shape

    monkeypatch.setattr(module, "_compiled", counted)
    monkeypatch.setattr(module, "_shapes", type(module._shapes)())
    return done


def test_a_shape_is_compiled_once_and_each_statement_keeps_its_values(
    compiles: list[str],
) -> None:
    dialect = sqlite.dialect()
    first = compile_select(_query("alice", datetime(2026, 1, 1, tzinfo=UTC), 10), dialect)
    second = compile_select(_query("bob", datetime(2026, 2, 3, tzinfo=UTC), 20), dialect)
    assert len(compiles) == 1
    assert first.sql == second.sql
    assert first.params() == ["alice", "2026-01-01 00:00:00.000000", 10, 0]
    # The values as SQLite's driver takes them: the DATETIME bind processor applied.
    assert second.params() == ["bob", "2026-02-03 00:00:00.000000", 20, 0]


def test_each_dialect_compiles_its_own_text(compiles: list[str]) -> None:
    query = _query("alice", datetime(2026, 1, 1, tzinfo=UTC), 10)
    on_sqlite = compile_select(query, sqlite.dialect())
    on_postgres = compile_select(query, postgresql.psycopg.dialect())  # type: ignore[no-untyped-call]
    assert len(compiles) == 2
    assert "?" in on_sqlite.sql
    assert "%(owner_id_1)s" in on_postgres.sql
    assert on_postgres.values["owner_id_1"] == "alice"


def test_an_in_list_is_compiled_for_its_own_length(compiles: list[str]) -> None:
    dialect = sqlite.dialect()
    two = compile_select(select(trades.c.id).where(trades.c.tag.in_(["a", "b"])), dialect)
    three = compile_select(select(trades.c.id).where(trades.c.tag.in_(["c", "d", "e"])), dialect)
    assert (two.sql.count("?"), two.params()) == (2, ["a", "b"])
    assert (three.sql.count("?"), three.params()) == (3, ["c", "d", "e"])
    assert len(compiles) == 2  # never taken from the cache: the text holds the length


def test_the_cache_keeps_the_shapes_used_last(
    compiles: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(module, "SHAPES_KEPT", 2)
    dialect = sqlite.dialect()
    shapes = [select(trades.c.id).where(column == "x") for column in trades.c]
    for shape in [*shapes[:3], shapes[2], shapes[0]]:
        compile_select(shape, dialect)
    # 0, 1, 2 compiled; 2 kept; 0 had been dropped for 2 (the two kept: 1 and 2).
    assert len(compiles) == 4
    assert len(module._shapes) == 2

"""The FROM list the range reads judge a query by: SQLAlchemy's own, without compiling."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, func, select

from exportd.sources.sqlite_ranges import final_froms

metadata = MetaData()
owners = Table("owners", metadata, Column("id", String, primary_key=True))
trades = Table(
    "trades",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("owner_id", String, ForeignKey("owners.id")),
    Column("qty", Integer),
)
recent = select(trades).where(trades.c.qty > 1).subquery("recent")

QUERIES: dict[str, Any] = {
    "one table": select(trades.c.id).where(trades.c.owner_id == "a").order_by(trades.c.id),
    "a join": select(trades.c.id).join_from(trades, owners),
    "a WHERE naming another table": select(trades.c.id).where(trades.c.owner_id == owners.c.id),
    "select_from": select(func.count()).select_from(trades),
    "a subquery": select(recent.c.id).order_by(recent.c.id),
    "two tables": select(trades.c.id, owners.c.id),
    "a correlated subquery": select(trades.c.id).where(
        select(owners.c.id).where(owners.c.id == trades.c.owner_id).exists()
    ),
}


@pytest.mark.parametrize("name", QUERIES)
def test_the_from_list_is_sqlalchemys(name: str) -> None:
    query = QUERIES[name]
    ours, theirs = final_froms(query), list(query.get_final_froms())
    assert len(ours) == len(theirs)
    # Tables and subqueries the same objects; a join built again for each, alike.
    assert all(
        a is b or (type(a) is type(b) and a.compare(b)) for a, b in zip(ours, theirs, strict=True)
    )

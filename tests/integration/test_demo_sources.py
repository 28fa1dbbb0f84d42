"""The demo sources over the demo tables, on SQLite and PostgreSQL: the same rows."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import pytest
from sqlalchemy import select

from exportd.db import Database
from exportd.demo.sources import (
    DailyPnlParams,
    DailyPnlSource,
    EvaluationParams,
    GoalParams,
    GoalsSource,
    PropEvaluationSource,
    TagParams,
    TagPerformanceSource,
    TradeParams,
    TradesSource,
)
from exportd.demo.tables import (
    create_demo_tables,
    demo_trades,
    seed_goals_and_evaluations,
    seed_trades,
)


@pytest.fixture
def journal(db: Database) -> Database:
    with db.write() as conn:
        create_demo_tables(conn)
        seed_trades(conn, "bob", 800)
        seed_trades(conn, "eve", 50)
    return db


def test_daily_pnl_adds_up_the_owners_closed_trades_per_day(journal: Database) -> None:
    with journal.read() as conn:
        trades = conn.execute(
            select(demo_trades.c.closed_at, demo_trades.c.pnl).where(
                demo_trades.c.owner_id == "bob", demo_trades.c.status == "closed"
            )
        ).all()
        source = DailyPnlSource()
        params = DailyPnlParams(date_from=date(2025, 2, 1))
        rows = [
            row
            for batch in source.batches(
                conn, "bob", params, ["day", "trades", "wins", "pnl"], batch_size=50
            )
            for row in batch.to_pylist()
        ]
        assert source.count(conn, "bob", params) == len(rows)
    expected: dict[date, list[float]] = defaultdict(list)
    for closed_at, pnl in trades:
        if closed_at.date() >= date(2025, 2, 1):
            expected[closed_at.date()].append(pnl)
    assert [r["day"] for r in rows] == sorted(expected)
    for row in rows:
        pnls = expected[row["day"]]
        assert row["trades"] == len(pnls)
        assert row["wins"] == sum(1 for p in pnls if p > 0)
        assert row["pnl"] == pytest.approx(sum(pnls))


def test_trades_are_scoped_to_their_owner_and_filtered(journal: Database) -> None:
    with journal.read() as conn:
        source = TradesSource()
        params = TradeParams(direction="long", limit=30)
        rows = [
            row
            for batch in source.batches(
                conn, "eve", params, ["id", "direction", "opened_at"], batch_size=7
            )
            for row in batch.to_pylist()
        ]
        assert source.count(conn, "eve", params) == len(rows) <= 30
    assert rows
    assert {r["direction"] for r in rows} == {"long"}
    assert [r["opened_at"] for r in rows] == sorted(r["opened_at"] for r in rows)


def rows_of(source, conn, owner: str, params, columns: list[str]) -> list[dict]:
    return [
        row
        for batch in source.batches(conn, owner, params, columns, batch_size=16)
        for row in batch.to_pylist()
    ]


def test_tag_performance_summarises_closed_trades_per_tag(journal: Database) -> None:
    with journal.read() as conn:
        closed = conn.execute(
            select(demo_trades.c.tag, demo_trades.c.pnl).where(
                demo_trades.c.owner_id == "bob",
                demo_trades.c.status == "closed",
                demo_trades.c.tag.is_not(None),
            )
        ).all()
        rows = rows_of(
            TagPerformanceSource(),
            conn,
            "bob",
            TagParams(),
            ["tag", "trades", "wins", "win_rate", "pnl"],
        )
        only_busy = TagPerformanceSource().count(conn, "bob", TagParams(min_trades=10_000))
    by_tag: dict[str, list[float]] = defaultdict(list)
    for tag, pnl in closed:
        by_tag[tag].append(pnl)
    assert {r["tag"] for r in rows} == set(by_tag)
    for row in rows:
        pnls = by_tag[row["tag"]]
        assert row["trades"] == len(pnls)
        assert row["win_rate"] == pytest.approx(sum(p > 0 for p in pnls) / len(pnls))
        assert row["pnl"] == pytest.approx(sum(pnls))
    assert [r["pnl"] for r in rows] == sorted((r["pnl"] for r in rows), reverse=True)
    assert only_busy == 0


def test_trades_filter_by_tags(journal: Database) -> None:
    with journal.read() as conn:
        rows = rows_of(TradesSource(), conn, "bob", TradeParams(tags=["news", "scalp"]), ["tag"])
    assert rows
    assert {r["tag"] for r in rows} == {"news", "scalp"}


def test_goals_and_evaluations_are_seeded_per_owner(journal: Database) -> None:
    with journal.write() as conn:
        seed_goals_and_evaluations(conn, "bob")
        seed_goals_and_evaluations(conn, "eve")
    with journal.read() as conn:
        goals = rows_of(
            GoalsSource(),
            conn,
            "bob",
            GoalParams(status="met"),
            ["title", "target", "current", "due_on", "status"],
        )
        evaluations = rows_of(
            PropEvaluationSource(),
            conn,
            "bob",
            EvaluationParams(),
            ["firm", "status", "pnl", "profit_target", "started_at"],
        )
    assert goals
    assert all(g["status"] == "met" for g in goals)
    for goal in goals:  # a cap (the daily loss) is met by staying under it
        under = goal["title"].startswith("Max daily loss")
        assert goal["current"] <= goal["target"] if under else goal["current"] >= goal["target"]
    assert [g["due_on"] for g in goals] == sorted(g["due_on"] for g in goals)
    assert isinstance(goals[0]["due_on"], date)
    assert len(evaluations) == 12
    for e in evaluations:
        assert (e["status"] == "passed") == (e["pnl"] >= e["profit_target"])


def test_the_trader_profile_is_a_valid_resume_of_the_owners_own_data(journal: Database) -> None:
    from exportd.demo.profile import ProfileParams, TraderProfile
    from exportd.documents.models import Resume

    with journal.write() as conn:
        seed_goals_and_evaluations(conn, "bob")
    source = TraderProfile()
    with journal.read() as conn:
        bob = Resume.model_validate(source.document(conn, "bob", ProfileParams()))
        nobody = Resume.model_validate(source.document(conn, "nobody", ProfileParams()))
        symbols = set(
            conn.execute(select(demo_trades.c.symbol).where(demo_trades.c.owner_id == "bob"))
            .scalars()
            .all()
        )
    assert bob.profile.name == "Bob"
    assert bob.profile.summary is not None
    assert bob.profile.summary.startswith("800 trades in ")
    assert set(bob.skills) <= symbols  # bob's symbols, not eve's
    assert bob.work
    assert all("evaluation" in item.role for item in bob.work)
    assert [s.title for s in bob.sections] == ["Goals"]
    # Someone with no data still gets a valid document: a profile that says so.
    assert nobody.profile.summary == "No trades recorded yet."
    assert (nobody.work, nobody.skills, nobody.sections) == ([], [], [])

"""``trader_profile``: a document source over the demo tables, rendered with the resume
templates — the trader's record as a one-page CV (prop-firm evaluations as work,
symbols as skills, performance and goals as sections).

It shows the document port: any data a source can shape like a resume gets every
built-in template, PDF and HTML, watermarks and page sizes included.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, case, func, select

from exportd.demo.tables import demo_goals, demo_prop_evaluations, demo_trades
from exportd.sources.base import DocumentSource

MAX_ITEMS = 10  # of each list: a profile is a page, not a report


class ProfileParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    page_size: Literal["a4", "letter"] | None = Field(
        default=None, description="the template's own page size when absent"
    )


class TraderProfileSource(DocumentSource):
    def document(self, conn: Connection, owner_id: str, params: BaseModel) -> dict[str, Any]:
        return {
            "profile": _profile(conn, owner_id),
            "work": _evaluations(conn, owner_id),
            "skills": _symbols(conn, owner_id),
            "sections": [s for s in (_goals(conn, owner_id),) if s["items"]],
        }


def TraderProfile() -> TraderProfileSource:  # noqa: N802 - reads as the source it builds
    return TraderProfileSource(
        name="trader_profile",
        title="Trader profile",
        kind="document",
        params_model=ProfileParams,
        formats=("pdf", "html"),
    )


def _profile(conn: Connection, owner_id: str) -> dict[str, Any]:
    t = demo_trades.c
    closed = t.status == "closed"
    row = conn.execute(
        select(
            func.count(),
            func.count(func.distinct(t.symbol)),
            func.min(t.opened_at),
            func.max(t.opened_at),
            func.sum(case((closed, 1), else_=0)),
            func.sum(case((closed & (t.pnl > 0), 1), else_=0)),
            func.coalesce(func.sum(t.pnl), 0.0),
        ).where(t.owner_id == owner_id)
    ).one()
    trades, symbols, first, last, closed_count, wins, net = row
    summary = "No trades recorded yet."
    if trades:
        summary = (
            f"{trades:,} trades in {symbols} symbols from {_month(first)} to {_month(last)}; "
            f"net P&L {net:+,.2f}"
        )
        if closed_count:
            summary += f", {100 * wins / closed_count:.0f}% of {closed_count:,} closed trades won"
        summary += "."
    return {
        "name": owner_id.replace("_", " ").title(),
        "headline": "Trading record",
        "summary": summary,
    }


def _evaluations(conn: Connection, owner_id: str) -> list[dict[str, Any]]:
    e = demo_prop_evaluations.c
    rows = conn.execute(
        select(demo_prop_evaluations)
        .where(e.owner_id == owner_id)
        .order_by(e.started_at.desc())
        .limit(MAX_ITEMS)
    ).all()
    return [
        {
            "organisation": row.firm,
            "role": f"{row.phase.title()} evaluation, {row.account_size:,.0f} account",
            "start": _month(row.started_at),
            "end": _month(row.ended_at) if row.ended_at else None,
            "highlights": [
                f"Status: {row.status}",
                f"P&L {row.pnl:+,.2f} against a {row.profit_target:,.2f} target",
                f"Maximum drawdown allowed: {row.max_drawdown:,.2f}",
            ],
        }
        for row in rows
    ]


def _symbols(conn: Connection, owner_id: str) -> list[str]:
    t = demo_trades.c
    rows = conn.execute(
        select(t.symbol)
        .where(t.owner_id == owner_id)
        .group_by(t.symbol)
        .order_by(func.count().desc(), t.symbol)
        .limit(MAX_ITEMS)
    ).scalars()
    return list(rows)


def _goals(conn: Connection, owner_id: str) -> dict[str, Any]:
    g = demo_goals.c
    # The latest goals, newest first (as the evaluations are): a profile shows where the
    # trader stands now, not the first weeks of the journal.
    rows = conn.execute(
        select(demo_goals)
        .where(g.owner_id == owner_id)
        .order_by(g.due_on.desc(), g.id)
        .limit(MAX_ITEMS)
    ).all()
    items = [
        f"{row.title}: {_goal_value(row.metric, row.current)} of "
        f"{_goal_value(row.metric, row.target)} ({row.status})"
        for row in rows
    ]
    return {"title": "Goals", "items": items}


def _goal_value(metric: str, value: float) -> str:
    """A goal's figure in its own unit: rates as percentages, counts whole, money with
    cents — not "0.33 of 0.55" for a win rate or "24.69" trades."""
    if metric in ("win_rate", "journaled"):
        return f"{100 * value:.0f}%"
    if metric == "trades":
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def _month(moment: datetime) -> str:
    return f"{moment:%Y-%m}"

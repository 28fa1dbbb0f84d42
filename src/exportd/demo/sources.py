"""The demo sources over the demo tables."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Float, Numeric, Select, case, cast, func, select

from exportd.demo.profile import TraderProfile
from exportd.demo.tables import demo_goals, demo_prop_evaluations, demo_trades
from exportd.sources.base import ColumnSpec, Source
from exportd.sources.params import DateRange
from exportd.sources.query import QuerySource


class TradeParams(DateRange):
    model_config = ConfigDict(extra="forbid")

    date_from: date | None = Field(default=None, description="opened on or after")
    date_to: date | None = Field(default=None, description="opened on or before")
    symbol: str | None = Field(default=None, max_length=32)
    direction: Literal["long", "short"] | None = None
    status: Literal["open", "closed"] | None = None
    tags: list[str] | None = Field(
        default=None, max_length=50, description="trades with any of these tags"
    )
    limit: int | None = Field(default=None, ge=1, le=100_000_000)


def trades_query(owner_id: str, params: TradeParams) -> Select[Any]:
    t = demo_trades.c
    clauses: list[Any] = [t.owner_id == owner_id]
    if params.date_from:
        clauses.append(t.opened_at >= datetime.combine(params.date_from, time(), UTC))
    if params.date_to:
        clauses.append(t.opened_at <= datetime.combine(params.date_to, time.max, UTC))
    for name in ("symbol", "direction", "status"):
        if getattr(params, name):
            clauses.append(demo_trades.c[name] == getattr(params, name))
    if params.tags:
        clauses.append(t.tag.in_(params.tags))
    query = select(demo_trades).where(*clauses).order_by(t.opened_at, t.id)
    return query.limit(params.limit) if params.limit else query


def TradesSource() -> QuerySource:  # noqa: N802 - reads as the source it builds
    return QuerySource(
        name="trades",
        title="Trades",
        params_model=TradeParams,
        query=trades_query,
        columns=(
            ColumnSpec("id", "integer", "Trade"),
            ColumnSpec("symbol", "string", "Symbol"),
            ColumnSpec("direction", "string", "Direction"),
            ColumnSpec("status", "string", "Status"),
            ColumnSpec("quantity", "number", "Quantity"),
            ColumnSpec("entry_price", "number", "Entry"),
            ColumnSpec("exit_price", "number", "Exit"),
            ColumnSpec("pnl", "number", "P&L"),
            ColumnSpec("opened_at", "datetime", "Opened"),
            ColumnSpec("closed_at", "datetime", "Closed"),
            ColumnSpec("notes", "string", "Notes"),
            ColumnSpec("tag", "string", "Tag"),
        ),
        column_presets={
            "summary": ("opened_at", "symbol", "direction", "pnl"),
            "accounting": ("id", "closed_at", "symbol", "quantity", "pnl"),
        },
    )


class DailyPnlParams(DateRange):
    model_config = ConfigDict(extra="forbid")

    date_from: date | None = Field(default=None, description="closed on or after")
    date_to: date | None = Field(default=None, description="closed on or before")


def money(amount: Any) -> Any:
    """Rounded to cents in the database (a sum of floats is not), as a float again."""
    return cast(func.round(cast(amount, Numeric), 2), Float)


def _closed_trades(owner_id: str, params: DailyPnlParams | TagParams) -> list[Any]:
    """The owner's closed trades, closed within the params' dates (inclusive)."""
    t = demo_trades.c
    clauses: list[Any] = [t.owner_id == owner_id, t.status == "closed"]
    if params.date_from:
        clauses.append(t.closed_at >= datetime.combine(params.date_from, time(), UTC))
    if params.date_to:
        clauses.append(t.closed_at <= datetime.combine(params.date_to, time.max, UTC))
    return clauses


def daily_pnl_query(owner_id: str, params: DailyPnlParams) -> Select[Any]:
    t = demo_trades.c
    day = func.date(t.closed_at)
    clauses = _closed_trades(owner_id, params)
    wins = func.sum(case((t.pnl > 0, 1), else_=0))
    return (
        select(
            day.label("day"),
            func.count().label("trades"),
            wins.label("wins"),
            money(func.sum(t.pnl)).label("pnl"),
            func.max(t.pnl).label("best"),
            func.min(t.pnl).label("worst"),
        )
        .where(*clauses)
        .group_by(day)
        .order_by(day)
    )


def DailyPnlSource() -> QuerySource:  # noqa: N802
    return QuerySource(
        name="daily_pnl",
        title="Daily P&L",
        params_model=DailyPnlParams,
        query=daily_pnl_query,
        columns=(
            ColumnSpec("day", "date", "Day"),
            ColumnSpec("trades", "integer", "Trades"),
            ColumnSpec("wins", "integer", "Wins"),
            ColumnSpec("pnl", "number", "P&L"),
            ColumnSpec("best", "number", "Best trade"),
            ColumnSpec("worst", "number", "Worst trade"),
        ),
    )


class TagParams(DateRange):
    model_config = ConfigDict(extra="forbid")

    date_from: date | None = Field(default=None, description="closed on or after")
    date_to: date | None = Field(default=None, description="closed on or before")
    min_trades: int = Field(default=1, ge=1, description="tags with at least this many trades")


def tag_performance_query(owner_id: str, params: TagParams) -> Select[Any]:
    t = demo_trades.c
    clauses = [*_closed_trades(owner_id, params), t.tag.is_not(None)]
    trades = func.count()
    wins = func.sum(case((t.pnl > 0, 1), else_=0))
    return (
        select(
            t.tag.label("tag"),
            trades.label("trades"),
            wins.label("wins"),
            (wins * 1.0 / trades).label("win_rate"),
            money(func.sum(t.pnl)).label("pnl"),
            money(func.avg(t.pnl)).label("average_pnl"),
        )
        .where(*clauses)
        .group_by(t.tag)
        .having(trades >= params.min_trades)
        .order_by(func.sum(t.pnl).desc(), t.tag)
    )


def TagPerformanceSource() -> QuerySource:  # noqa: N802
    return QuerySource(
        name="tag_performance",
        title="Tag performance",
        params_model=TagParams,
        query=tag_performance_query,
        columns=(
            ColumnSpec("tag", "string", "Tag"),
            ColumnSpec("trades", "integer", "Trades"),
            ColumnSpec("wins", "integer", "Wins"),
            ColumnSpec("win_rate", "number", "Win rate"),
            ColumnSpec("pnl", "number", "P&L"),
            ColumnSpec("average_pnl", "number", "Average P&L"),
        ),
    )


class GoalParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["met", "missed"] | None = None


def goals_query(owner_id: str, params: GoalParams) -> Select[Any]:
    g = demo_goals.c
    query = select(demo_goals).where(g.owner_id == owner_id).order_by(g.due_on, g.id)
    return query.where(g.status == params.status) if params.status else query


def GoalsSource() -> QuerySource:  # noqa: N802
    return QuerySource(
        name="goals",
        title="Goals",
        params_model=GoalParams,
        query=goals_query,
        columns=(
            ColumnSpec("title", "string", "Goal"),
            ColumnSpec("metric", "string", "Metric"),
            ColumnSpec("target", "number", "Target"),
            ColumnSpec("current", "number", "Current"),
            ColumnSpec("due_on", "date", "Due"),
            ColumnSpec("status", "string", "Status"),
        ),
    )


class EvaluationParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["active", "passed", "failed"] | None = None
    firm: str | None = Field(default=None, max_length=64)


def evaluations_query(owner_id: str, params: EvaluationParams) -> Select[Any]:
    e = demo_prop_evaluations.c
    clauses: list[Any] = [e.owner_id == owner_id]
    if params.status:
        clauses.append(e.status == params.status)
    if params.firm:
        clauses.append(e.firm == params.firm)
    return select(demo_prop_evaluations).where(*clauses).order_by(e.started_at, e.id)


def PropEvaluationSource() -> QuerySource:  # noqa: N802
    return QuerySource(
        name="prop_evaluation",
        title="Prop-firm evaluations",
        params_model=EvaluationParams,
        query=evaluations_query,
        columns=(
            ColumnSpec("firm", "string", "Firm"),
            ColumnSpec("account_size", "number", "Account size"),
            ColumnSpec("phase", "string", "Phase"),
            ColumnSpec("status", "string", "Status"),
            ColumnSpec("profit_target", "number", "Profit target"),
            ColumnSpec("max_drawdown", "number", "Max drawdown"),
            ColumnSpec("pnl", "number", "P&L"),
            ColumnSpec("started_at", "datetime", "Started"),
            ColumnSpec("ended_at", "datetime", "Ended"),
        ),
    )


def demo_sources() -> list[Source]:
    return [
        TradesSource(),
        DailyPnlSource(),
        TagPerformanceSource(),
        GoalsSource(),
        PropEvaluationSource(),
        TraderProfile(),
    ]

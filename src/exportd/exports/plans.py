"""Plans: named sets of limits in ``plan_limits``; every principal's plan must have one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, select

from exportd.db.tables import plan_limits
from exportd.errors import Forbidden
from exportd.exports.models import PlanLimits


def plan_for(conn: Connection, name: str) -> PlanLimits:
    row = conn.execute(select(plan_limits).where(plan_limits.c.name == name)).first()
    if row is None:
        raise Forbidden(f"the plan {name!r} is not configured here", code="plan_unknown")
    return _to_plan(row)


def all_plans(conn: Connection) -> list[PlanLimits]:
    return [_to_plan(row) for row in conn.execute(select(plan_limits).order_by(plan_limits.c.name))]


def _to_plan(row: Row[Any]) -> PlanLimits:
    values = dict(row._mapping)
    values["formats_allowed"] = tuple(values["formats_allowed"])
    return PlanLimits(**values)

"""Plans: named sets of limits in ``plan_limits``; every principal's plan must have one."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import Connection, Row, bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from exportd.db.tables import plan_limits
from exportd.errors import Forbidden, RequestInvalid
from exportd.exports.models import PlanLimits

_PLAN = select(plan_limits).where(plan_limits.c.name == bindparam("plan_name"))


def plan_for(conn: Connection, name: str) -> PlanLimits:
    row = conn.execute(_PLAN, {"plan_name": name}).first()
    if row is None:
        raise unknown_plan(name)
    return _to_plan(row)


def unknown_plan(name: str) -> Forbidden:
    return Forbidden(f"the plan {name!r} is not configured here", code="plan_unknown")


def fair_share(owner_id: str, plan: PlanLimits) -> dict[str, Any]:
    """An export job's fairness: its owner's turn among owners, within the plan's limit
    of the owner's exports running at once."""
    return {"fair_key": owner_id, "fair_limit": plan.max_running}


def all_plans(conn: Connection) -> list[PlanLimits]:
    return [_to_plan(row) for row in conn.execute(select(plan_limits).order_by(plan_limits.c.name))]


# Every format an export may have: rows (exportd.formats) and documents.
EXPORT_FORMATS = ("csv", "jsonl", "json", "xlsx", "parquet", "pdf", "html")


def save_plan(conn: Connection, plan: PlanLimits) -> None:
    """Create or replace a plan's limits; a format exportd does not know is refused (a
    stored one would fail every later read of the plan)."""
    unknown = [f for f in plan.formats_allowed if f not in EXPORT_FORMATS]
    if unknown or not plan.formats_allowed:
        raise RequestInvalid(
            f"unknown formats {', '.join(map(repr, unknown))}; known: {', '.join(EXPORT_FORMATS)}"
            if unknown
            else "a plan needs at least one format",
            code="plan_formats_invalid",
        )
    values = limits_of(plan)
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(
        insert(plan_limits)
        .values(name=plan.name, **values)
        .on_conflict_do_update(index_elements=[plan_limits.c.name], set_=values)
    )


def limits_of(plan: PlanLimits) -> dict[str, Any]:
    """The plan's limits as plain values (JSON-ready), without its name."""
    values = dataclasses.asdict(plan)
    del values["name"]
    values["formats_allowed"] = list(plan.formats_allowed)
    return values


def _to_plan(row: Row[Any]) -> PlanLimits:
    return _plan(dict(row._mapping))


def _plan(values: dict[str, Any]) -> PlanLimits:
    values["formats_allowed"] = tuple(values["formats_allowed"])
    return PlanLimits(**values)


# A plan read along with another table's row: its columns under this prefix.
PLAN_PREFIX = "plan_limits_"
PLAN_COLUMNS = tuple(column.label(PLAN_PREFIX + column.name) for column in plan_limits.c)


def plan_in(row: Row[Any]) -> PlanLimits:
    """The plan in a row read with :data:`PLAN_COLUMNS`."""
    found = row._mapping
    return _plan({column.name: found[PLAN_PREFIX + column.name] for column in plan_limits.c})

"""Plans and their limits as admins manage them (the API's admin routes and ``exportd
plans``), each call one transaction."""

from __future__ import annotations

import dataclasses
from typing import Any

from exportd.db import Database
from exportd.errors import ExportdError
from exportd.exports.models import PlanLimits
from exportd.exports.plans import all_plans, plan_for, save_plan


class PlanBook:
    def __init__(self, db: Database) -> None:
        self.db = db

    def all(self) -> list[PlanLimits]:
        with self.db.read() as conn:
            return all_plans(conn)

    def save(self, plan: PlanLimits) -> PlanLimits:
        """Create or replace a plan's limits; they apply to the next request."""
        with self.db.write() as conn:
            save_plan(conn, plan)
            return plan_for(conn, plan.name)

    def change(self, name: str, **changes: Any) -> PlanLimits:
        """Change some of a plan's limits; a new plan starts from the free plan's."""
        with self.db.write() as conn:
            try:
                base = plan_for(conn, name)
            except ExportdError:
                base = dataclasses.replace(plan_for(conn, "free"), name=name)
            save_plan(conn, dataclasses.replace(base, **changes))
            return plan_for(conn, name)

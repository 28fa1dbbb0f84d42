"""Admin routes: plan limits and bulk exports (admin tokens or keys only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Request, status
from pydantic import BaseModel, ConfigDict, Field, field_validator

from exportd.api.deps import Admin, Exports, Plans
from exportd.api.ops_schemas import CleanupOut
from exportd.api.routers import api_router
from exportd.api.schemas import ExportCreate, Limits
from exportd.auth.principal import KEY_OWNER_PREFIX
from exportd.exports.models import PlanLimits
from exportd.exports.plans import limits_of
from exportd.ops.cleanup import Cleanup

router = api_router(prefix="/v1", tags=["admin"])

# The columns' limits: owner_id and plan widths.
UserId = Annotated[str, Field(min_length=1, max_length=255)]
PlanName = Annotated[str, Path(min_length=1, max_length=64)]


class PlanOut(Limits):
    name: str

    @classmethod
    def of(cls, plan: PlanLimits) -> PlanOut:
        return cls(name=plan.name, **limits_of(plan))


class BulkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_ids: list[UserId] = Field(min_length=1, max_length=10_000)
    plan: str = Field(default="free", max_length=64)
    export: ExportCreate

    @field_validator("user_ids")
    @classmethod
    def _users_only(cls, user_ids: list[str]) -> list[str]:
        # API keys own what they made; a bulk run is for users.
        if any(user_id.startswith(KEY_OWNER_PREFIX) for user_id in user_ids):
            raise ValueError(f"user ids may not start with {KEY_OWNER_PREFIX!r}")
        return user_ids


class BulkOut(BaseModel):
    export_ids: list[str]


@router.get("/plans", response_model=list[PlanOut])
def list_plans(_admin: Admin, plans: Plans) -> list[PlanOut]:
    """Every plan and its limits."""
    return [PlanOut.of(plan) for plan in plans.all()]


@router.put("/plans/{name}", response_model=PlanOut)
def put_plan(name: PlanName, body: Limits, _admin: Admin, plans: Plans) -> PlanOut:
    """Create or change a plan's limits; they apply to the next request."""
    plan = PlanLimits(
        name=name, **{**body.model_dump(), "formats_allowed": tuple(body.formats_allowed)}
    )
    return PlanOut.of(plans.save(plan))


@router.post("/ops/cleanup", response_model=CleanupOut)
def run_cleanup(_admin: Admin, request: Request, dry_run: bool = True) -> CleanupOut:
    """Remove expired and orphan files now (``dry_run=true`` reports only: the default)."""
    cleanup: Cleanup = request.app.state.cleanup
    return CleanupOut.model_validate(cleanup.run(dry_run=dry_run).as_dict())


@router.post("/admin/exports/bulk", status_code=status.HTTP_202_ACCEPTED, response_model=BulkOut)
def create_bulk_exports(body: BulkIn, admin: Admin, exports: Exports) -> BulkOut:
    """The same export for many users, each owned by its user, queued at bulk priority."""
    ids = exports.create_bulk(
        admin, user_ids=body.user_ids, plan=body.plan, request=body.export.to_domain()
    )
    return BulkOut(export_ids=ids)

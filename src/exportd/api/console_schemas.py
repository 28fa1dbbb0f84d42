"""The operator's console's bodies: the domain's dataclasses where they are the answer as
they are, and the few shapes of its own (a tenant's usage, a dead-letter filter)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from exportd.api.schemas import Usage
from exportd.ops.console import TenantUsage
from exportd.ops.dead_letters import DeadLetterFilter


class TenantOut(BaseModel):
    owner_id: str
    plan: str
    usage: Usage  # as GET /v1/me/usage gives it to the tenant

    @classmethod
    def of(cls, tenant: TenantUsage) -> TenantOut:
        return cls(owner_id=tenant.owner_id, plan=tenant.plan, usage=Usage(**tenant.usage))


class DeadLetterFilterIn(BaseModel):
    """Which dead letters an action takes: every one that matches all that is given (none
    given: every dead letter of the kind)."""

    model_config = ConfigDict(extra="forbid")

    owner: str | None = Field(default=None, min_length=1, max_length=255)
    source: str | None = Field(default=None, min_length=1, max_length=64)
    format: str | None = Field(default=None, min_length=1, max_length=16)
    code: str | None = Field(default=None, min_length=1, max_length=64)
    since: datetime | None = Field(default=None, description="died at or after")
    until: datetime | None = Field(default=None, description="died before")

    def to_domain(self) -> DeadLetterFilter:
        return DeadLetterFilter(**self.model_dump())


def filter_of(**given: Any) -> DeadLetterFilter:
    """A filter from query parameters, blanks dropped (a form's empty fields)."""
    return DeadLetterFilter(
        **{name: value for name, value in given.items() if value not in ("", None)}
    )

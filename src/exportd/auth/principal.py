"""The principal: who asks, on which plan, with which rights."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    plan: str
    email: str | None = None
    is_admin: bool = False

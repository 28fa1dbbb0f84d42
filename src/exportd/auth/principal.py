"""The principal: who asks, on which plan, with which rights."""

from __future__ import annotations

from dataclasses import dataclass, field

from exportd.auth.scopes import USER, Scope, grants

# An API key acts as ``apikey:<name>``; no JWT subject may start so (see auth.claims),
# so a user can never take over what a key owns.
KEY_OWNER_PREFIX = "apikey:"


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    plan: str
    email: str | None = None
    is_admin: bool = False
    # What the principal may do (see exportd.auth.scopes): a user's by default.
    scopes: frozenset[str] = field(default=USER)

    def may(self, scope: Scope) -> bool:
        return self.is_admin or grants(self.scopes, scope)


def key_owner(name: str) -> str:
    return f"{KEY_OWNER_PREFIX}{name}"

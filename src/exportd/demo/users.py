"""The demo's users: one on each plan and an admin (``exportd demo`` and the page's
one-click sign-in)."""

from __future__ import annotations

from dataclasses import dataclass

from exportd.auth.tokens import mint


@dataclass(frozen=True, slots=True)
class DemoUser:
    name: str
    plan: str
    admin: bool = False

    @property
    def email(self) -> str:
        return f"{self.name}@example.com"

    def token(self, secret: str, *, ttl_s: int = 7 * 86_400) -> str:
        return mint(
            self.name,
            secret=secret,
            plan=self.plan,
            email=self.email,
            admin=self.admin,
            ttl_s=ttl_s,
        )


DEMO_USERS = (DemoUser("alice", "free"), DemoUser("bob", "pro"), DemoUser("admin", "pro", True))


def demo_user(name: str) -> DemoUser | None:
    return next((user for user in DEMO_USERS if user.name == name), None)

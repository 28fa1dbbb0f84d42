"""A client on the real app, with tokens for a few users."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from exportd.auth.tokens import mint
from exportd.config import Settings, jwt_key


class Api:
    def __init__(self, client: TestClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    def token(self, user: str, *, plan: str = "free", admin: bool = False, **kw: Any) -> str:
        return mint(user, secret=jwt_key(self.settings), plan=plan, admin=admin, **kw)

    def as_user(self, user: str, **kw: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user, **kw)}"}

    def create(self, user: str, body: dict[str, Any] | None = None, **kw: Any) -> Any:
        body = body or {"source": "trades", "format": "csv", "params": {}}
        extra = kw.pop("headers", {})
        headers = {**self.as_user(user, **kw), **extra}
        return self.client.post("/v1/exports", json=body, headers=headers)

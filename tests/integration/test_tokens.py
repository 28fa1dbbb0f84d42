"""Each way a token can be wrong has its own code (checked through the real app)."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from fastapi.testclient import TestClient

from exportd.api.app import create_app
from exportd.auth.tokens import mint
from exportd.config import load_settings
from exportd.db import create_database
from exportd.db.migrate import upgrade
from tests.support.sources import fake_sources

SECRET = "test-secret-of-the-host-app-" + "x" * 40


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    path = tmp_path_factory.mktemp("tokens") / "t.db"
    settings = load_settings(database_url=f"sqlite:///{path}", jwt_secret=SECRET)
    db = create_database(settings)
    upgrade(db)
    return TestClient(create_app(settings, db=db, sources=fake_sources()))


def _unsigned(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


FUTURE = int(time.time()) + 3600
CASES = [
    (None, "auth_required"),
    ("not-a-jwt", "token_malformed"),
    (_unsigned({"sub": "alice", "plan": "pro", "exp": FUTURE}), "token_algorithm_not_allowed"),
    (mint("alice", secret="another-secret-" + "y" * 40), "token_signature_invalid"),
    (mint("alice", secret=SECRET, ttl_s=-10), "token_expired"),
    (jwt.encode({"sub": "alice", "exp": FUTURE}, SECRET, algorithm="HS256"), "token_claim_missing"),
    (
        jwt.encode({"sub": "alice", "plan": "free"}, SECRET, algorithm="HS256"),
        "token_claim_missing",
    ),
    (
        jwt.encode({"sub": "a", "plan": "free", "exp": FUTURE}, SECRET, algorithm="HS384"),
        "token_algorithm_not_allowed",
    ),
]


@pytest.mark.parametrize(("token", "code"), CASES)
def test_bad_tokens_get_401_with_a_distinct_code(
    client: TestClient, token: str | None, code: str
) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.get("/v1/exports", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == code
    assert "Bearer" in response.headers["www-authenticate"]


def test_a_good_token_passes(client: TestClient) -> None:
    token = mint("alice", secret=SECRET, plan="free", email="a@example.com")
    response = client.get("/v1/exports", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200

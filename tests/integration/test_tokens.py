"""Each way a token can be wrong has its own code (checked through the real app)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from fastapi.testclient import TestClient

from exportd.api.app import create_app
from exportd.auth.tokens import mint
from exportd.config import Settings, jwt_key, load_settings
from exportd.db import Database, create_database
from tests.support.databases import migrated_sqlite
from tests.support.sources import fake_sources

SECRET = "test-secret-of-the-host-app-" + "x" * 40


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    path = tmp_path_factory.mktemp("tokens") / "t.db"
    settings = load_settings(database_url=migrated_sqlite(path), jwt_secret=SECRET)
    db = create_database(settings)
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


def _signed(header: dict[str, object], claims: dict[str, object]) -> str:
    """An HS256 token with exactly this header (jwt.encode would refuse some of them)."""
    head = _part(json.dumps({"typ": "JWT", **header}).encode())
    body = _part(json.dumps(claims).encode())
    mac = hmac.new(SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_part(mac)}"


def _part(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


GOOD = {"sub": "alice", "plan": "free", "exp": FUTURE}
CRAFTED_HEADERS = [
    {"alg": "HS256", "crit": ["exp"]},  # an extension nobody here understands
    {"alg": "HS256", "crit": "exp"},
    {"alg": "HS256", "crit": []},
    {"alg": "HS256", "kid": 5},
    {"alg": "HS256", "kid": None},
    {"alg": "HS256", "kid": {"a": 1}},
]


@pytest.mark.parametrize("header", CRAFTED_HEADERS, ids=str)
def test_crafted_headers_are_refused_not_a_500(client: TestClient, header: dict) -> None:
    response = client.get(
        "/v1/exports", headers={"Authorization": f"Bearer {_signed(header, GOOD)}"}
    )
    assert (response.status_code, response.json()["code"]) == (401, "token_header_invalid")


LOOSE_CLAIMS = [
    {"admin": "false"},  # a truthy string used to grant admin
    {"admin": "true"},
    {"admin": 1},
    {"admin": [True]},
    {"plan": 5},
    {"plan": {"name": "pro"}},
    {"plan": ""},
    {"email": ["alice@example.com"]},
    {"email": 5},
    {"sub": ""},
    {"sub": "a" * 256},  # wider than owner_id
    {"sub": "alice\u0000"},
    {"sub": "alice\ud800"},
    {"sub": "alice\n"},
    {"plan": "p" * 65},
    {"sub": 5},  # PyJWT's own check said token_invalid
    {"exp": "9999999999"},  # a string: PyJWT took it
    {"exp": True},  # PyJWT read it as 1, "expired"
]


@pytest.mark.parametrize("claims", LOOSE_CLAIMS, ids=str)
def test_claims_of_the_wrong_type_or_shape_are_refused(client: TestClient, claims: dict) -> None:
    token = _signed({"alg": "HS256"}, {**GOOD, **claims})
    for method, path in (("GET", "/v1/plans"), ("GET", "/v1/exports")):
        response = client.request(method, path, headers={"Authorization": f"Bearer {token}"})
        assert (response.status_code, response.json()["code"]) == (401, "token_claim_invalid")


def test_only_the_json_literal_true_makes_an_admin(client: TestClient) -> None:
    def plans(**claims: object) -> int:
        token = _signed({"alg": "HS256"}, {**GOOD, **claims})
        return client.get("/v1/plans", headers={"Authorization": f"Bearer {token}"}).status_code

    assert plans(admin=True) == 200
    assert plans(admin=False) == 403
    assert plans(admin=None) == 403
    assert plans() == 403


def test_a_subject_may_not_claim_an_api_keys_namespace(client: TestClient) -> None:
    token = mint("apikey:reader", secret=SECRET)
    response = client.get("/v1/documents", headers={"Authorization": f"Bearer {token}"})
    assert (response.status_code, response.json()["code"]) == (401, "token_subject_reserved")


def test_subjects_no_database_can_store_are_refused_before_one_is_asked(
    settings: Settings, db: Database
) -> None:
    with TestClient(create_app(settings, db=db, sources=fake_sources())) as api:
        for sub in ("a" * 256, "a\u0000b", "a\ud800b"):
            token = jwt.encode({**GOOD, "sub": sub}, jwt_key(settings), algorithm="HS256")
            response = api.post(
                "/v1/exports",
                json={"source": "trades", "format": "csv", "params": {}},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert (response.status_code, response.json()["code"]) == (401, "token_claim_invalid")

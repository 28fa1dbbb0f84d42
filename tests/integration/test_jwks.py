"""RS256/ES256 tokens checked against a JWKS served on loopback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient

from exportd.api.app import create_app
from exportd.config import load_settings
from exportd.db import create_database
from tests.support.databases import migrated_sqlite
from tests.support.sources import fake_sources

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def jwk(public_key: Any, kid: str, algorithm: Any) -> dict[str, Any]:
    key: dict[str, Any] = algorithm.to_jwk(public_key, as_dict=True)
    return {**key, "kid": kid, "use": "sig"}


EC384_KEY = ec.generate_private_key(ec.SECP384R1())  # published, never signs here
OCT_SECRET = b"a-symmetric-key-that-must-never-verify-rs256-" * 2

JWKS = {
    "keys": [
        jwk(RSA_KEY.public_key(), "rsa-1", jwt.algorithms.RSAAlgorithm),
        jwk(EC_KEY.public_key(), "ec-1", jwt.algorithms.ECAlgorithm),
        # Keys a token may name but must not be verified with under RS256/ES256:
        {**jwk(RSA_KEY.public_key(), "rsa-512", jwt.algorithms.RSAAlgorithm), "alg": "RS512"},
        jwk(EC384_KEY.public_key(), "ec-384", jwt.algorithms.ECAlgorithm),
        {
            **jwt.algorithms.HMACAlgorithm.to_jwk(OCT_SECRET, as_dict=True),
            "kid": "oct-1",
            "use": "sig",
        },
    ]
}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(JWKS).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def jwks_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def client_for(url: str, tmp_path: Path, **settings: Any) -> TestClient:
    config = load_settings(
        database_url=migrated_sqlite(tmp_path / "j.db"), jwks_url=url, **settings
    )
    db = create_database(config)
    return TestClient(create_app(config, db=db, sources=fake_sources()))


def token(key: Any, algorithm: str, kid: str, **claims: Any) -> str:
    body = {"sub": "alice", "plan": "free", "exp": int(time.time()) + 600, **claims}
    return jwt.encode(body, key, algorithm=algorithm, headers={"kid": kid})


def status(client: TestClient, bearer: str) -> tuple[int, str | None]:
    response = client.get("/v1/exports", headers={"Authorization": f"Bearer {bearer}"})
    return response.status_code, response.json().get(
        "code"
    ) if response.status_code != 200 else None


def test_rs256_and_es256_tokens_from_the_jwks(
    jwks_server: ThreadingHTTPServer, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{jwks_server.server_port}/.well-known/jwks.json"
    with client_for(url, tmp_path) as client:
        assert status(client, token(RSA_KEY, "RS256", "rsa-1")) == (200, None)
        assert status(client, token(EC_KEY, "ES256", "ec-1")) == (200, None)
        assert status(client, token(RSA_KEY, "RS256", "rsa-9")) == (401, "token_key_unknown")
        impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        assert status(client, token(impostor, "RS256", "rsa-1")) == (
            401,
            "token_signature_invalid",
        )
        expired = token(RSA_KEY, "RS256", "rsa-1", exp=int(time.time()) - 5)
        assert status(client, expired) == (401, "token_expired")


def test_production_with_only_jwks_refuses_hs256(
    jwks_server: ThreadingHTTPServer, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{jwks_server.server_port}/jwks"
    with client_for(
        url, tmp_path, env="production", secret_key="s" * 40, smtp_url="smtp://127.0.0.1:2525"
    ) as client:
        hs = jwt.encode(
            {"sub": "a", "plan": "free", "exp": int(time.time()) + 60}, "k" * 40, algorithm="HS256"
        )
        assert status(client, hs) == (401, "token_algorithm_not_allowed")
        assert status(client, token(RSA_KEY, "RS256", "rsa-1")) == (200, None)


def test_an_unreachable_jwks_is_a_503(tmp_path: Path) -> None:
    with client_for("http://127.0.0.1:1/jwks", tmp_path) as client:
        assert status(client, token(RSA_KEY, "RS256", "rsa-1")) == (503, "jwks_unavailable")


def test_a_tokens_algorithm_must_be_its_keys(
    jwks_server: ThreadingHTTPServer, tmp_path: Path
) -> None:
    """Algorithm confusion: each key verifies only the algorithm it is for."""
    url = f"http://127.0.0.1:{jwks_server.server_port}/jwks"
    mismatched = [
        token(EC_KEY, "ES256", "rsa-1"),  # an RSA key, a token that says ES256
        token(RSA_KEY, "RS256", "ec-1"),  # an EC key, a token that says RS256
        token(RSA_KEY, "RS256", "rsa-512"),  # the key is published for RS512 only
        token(EC_KEY, "ES256", "ec-384"),  # a P-384 key is for ES384
        token(RSA_KEY, "RS256", "oct-1"),  # a symmetric key never verifies RS256
    ]
    with client_for(url, tmp_path) as client:
        for bearer in mismatched:
            assert status(client, bearer) == (401, "token_algorithm_mismatch")
        assert status(client, token(RSA_KEY, "RS256", "rsa-1")) == (200, None)


def test_hs256_signed_with_a_published_public_key_is_refused(
    jwks_server: ThreadingHTTPServer, tmp_path: Path
) -> None:
    """The classic confusion: the RSA public key (which anyone can fetch) as an HMAC secret."""
    url = f"http://127.0.0.1:{jwks_server.server_port}/jwks"
    pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = {"sub": "alice", "plan": "free", "exp": int(time.time()) + 600}
    forged = _hs256(claims, pem, kid="rsa-1")  # PyJWT itself refuses to sign this way
    with client_for(url, tmp_path) as client:  # the development secret also takes HS256
        assert status(client, forged) == (401, "token_signature_invalid")
    with client_for(
        url, tmp_path, env="production", secret_key="s" * 40, smtp_url="smtp://127.0.0.1:2525"
    ) as client:  # JWKS only: HS256 is not accepted at all
        assert status(client, forged) == (401, "token_algorithm_not_allowed")


def _hs256(claims: dict[str, Any], secret: bytes, *, kid: str) -> str:
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    head = part(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = part(json.dumps(claims).encode())
    mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{part(mac)}"

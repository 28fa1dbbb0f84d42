"""RS256/ES256 tokens checked against a JWKS served on loopback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient

from exportd.api.app import create_app
from exportd.config import load_settings
from exportd.db import create_database
from exportd.db.migrate import upgrade
from tests.support.sources import fake_sources

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def jwk(public_key: Any, kid: str, algorithm: Any) -> dict[str, Any]:
    key: dict[str, Any] = algorithm.to_jwk(public_key, as_dict=True)
    return {**key, "kid": kid, "use": "sig"}


JWKS = {
    "keys": [
        jwk(RSA_KEY.public_key(), "rsa-1", jwt.algorithms.RSAAlgorithm),
        jwk(EC_KEY.public_key(), "ec-1", jwt.algorithms.ECAlgorithm),
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
    config = load_settings(database_url=f"sqlite:///{tmp_path / 'j.db'}", jwks_url=url, **settings)
    db = create_database(config)
    upgrade(db)
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

"""JWTs: verified with distinct error codes for each way a token can be wrong.

Tokens are minted by the host application: HS256 with a shared secret
(``EXPORTD_JWT_SECRET``), or RS256/ES256 with keys published at ``EXPORTD_JWKS_URL``
(fetched once, cached, refetched for an unknown key id).  ``mint`` exists for
development and tests (``exportd token``).
"""

from __future__ import annotations

import time
from typing import Any

import jwt

from exportd.auth.principal import Principal
from exportd.errors import ServiceUnavailable, Unauthenticated

ALGORITHMS = ["HS256"]
JWKS_ALGORITHMS = ["RS256", "ES256"]
REQUIRED_CLAIMS = ["sub", "plan", "exp"]


class TokenVerifier:
    """Checks user tokens with the shared secret and/or the JWKS of the identity provider."""

    def __init__(self, *, secret: str | None, jwks_url: str | None = None) -> None:
        self.secret = secret
        self.jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300) if jwks_url else None

    @property
    def uses_network(self) -> bool:
        return self.jwks is not None

    def verify(self, token: str) -> Principal:
        algorithm = _algorithm(token)
        if algorithm in ALGORITHMS and self.secret is not None:
            return verify(token, secret=self.secret)
        if algorithm in JWKS_ALGORITHMS and self.jwks is not None:
            return _decode(token, self._public_key(token), JWKS_ALGORITHMS)
        raise Unauthenticated(
            f"tokens signed with {algorithm!r} are not accepted",
            code="token_algorithm_not_allowed",
        )

    def _public_key(self, token: str) -> Any:
        assert self.jwks is not None
        try:
            return self.jwks.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientConnectionError:
            raise ServiceUnavailable(
                "the identity provider's keys cannot be fetched", code="jwks_unavailable"
            ) from None
        except jwt.PyJWKClientError:
            raise Unauthenticated(
                "the token's key id is not published by the identity provider",
                code="token_key_unknown",
            ) from None


def _algorithm(token: str) -> str | None:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError:
        raise Unauthenticated("the token is not a JWT", code="token_malformed") from None
    algorithm = header.get("alg")
    return algorithm if isinstance(algorithm, str) else None


def verify(token: str, *, secret: str) -> Principal:
    algorithm = _algorithm(token)
    if algorithm not in ALGORITHMS:
        raise Unauthenticated(
            f"tokens signed with {algorithm!r} are not accepted",
            code="token_algorithm_not_allowed",
        )
    return _decode(token, secret, ALGORITHMS)


def _decode(token: str, key: Any, algorithms: list[str]) -> Principal:
    try:
        claims = jwt.decode(token, key, algorithms=algorithms, options={"require": REQUIRED_CLAIMS})
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("the token has expired", code="token_expired") from None
    except jwt.InvalidSignatureError:
        raise Unauthenticated(
            "the token's signature does not match", code="token_signature_invalid"
        ) from None
    except jwt.MissingRequiredClaimError as exc:
        raise Unauthenticated(
            f"the token lacks the {exc.claim!r} claim", code="token_claim_missing"
        ) from None
    except jwt.InvalidTokenError:
        raise Unauthenticated("the token is not valid", code="token_invalid") from None
    if not isinstance(claims["sub"], str) or not claims["sub"]:
        raise Unauthenticated("the token's 'sub' claim is empty", code="token_claim_missing")
    return Principal(
        user_id=claims["sub"],
        plan=str(claims["plan"]),
        email=claims.get("email"),
        is_admin=bool(claims.get("admin", False)),
    )


def mint(
    user_id: str,
    *,
    secret: str,
    plan: str = "free",
    email: str | None = None,
    admin: bool = False,
    ttl_s: int = 3600,
) -> str:
    claims: dict[str, object] = {"sub": user_id, "plan": plan, "exp": int(time.time()) + ttl_s}
    if email:
        claims["email"] = email
    if admin:
        claims["admin"] = True
    return jwt.encode(claims, secret, algorithm="HS256")

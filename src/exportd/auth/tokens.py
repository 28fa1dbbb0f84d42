"""JWTs: verified with distinct error codes for each way a token can be wrong.

Tokens are minted by the host application: HS256 with a shared secret
(``EXPORTD_JWT_SECRET``), or RS256/ES256 with keys published at ``EXPORTD_JWKS_URL``
(fetched once, cached, refetched for an unknown key id).  ``mint`` exists for
development and tests (``exportd token``).

Every refusal is an :class:`Unauthenticated` (401) with its own code, never a 500:
a crafted header or claim is the caller's mistake.  Claims are read strictly (see
:mod:`exportd.auth.claims`); a JWKS token's ``alg`` must be the one its key is for.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from exportd.auth.claims import expiry_of, principal_of
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
            key = self._public_key(token, algorithm)
            return _decode(token, key, [algorithm])
        raise _not_allowed(algorithm)

    def _public_key(self, token: str, algorithm: str) -> Any:
        assert self.jwks is not None
        try:
            jwk = self.jwks.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError:
            raise ServiceUnavailable(
                "the identity provider's keys cannot be fetched", code="jwks_unavailable"
            ) from None
        except jwt.PyJWTError:
            raise Unauthenticated(
                "the token's key id is not published by the identity provider",
                code="token_key_unknown",
            ) from None
        if jwk.algorithm_name != algorithm or not _key_fits(jwk.key, algorithm):
            # Algorithm confusion: a token may only use the algorithm its key is for.
            raise Unauthenticated(
                f"the token's key is not for {algorithm}", code="token_algorithm_mismatch"
            )
        return jwk.key


def _key_fits(key: Any, algorithm: str) -> bool:
    if algorithm == "RS256":
        return isinstance(key, rsa.RSAPublicKey)
    return isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)


def _header(token: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError:
        raise Unauthenticated("the token is not a JWT", code="token_malformed") from None
    except jwt.InvalidTokenError:  # e.g. a non-string "kid" or a bad "crit"
        raise Unauthenticated(
            "the token's header is not valid", code="token_header_invalid"
        ) from None
    if "crit" in header:
        # No extension is understood here, so none may be critical (RFC 7515 §4.1.11).
        raise Unauthenticated(
            "the token's header names critical extensions", code="token_header_invalid"
        )
    if not isinstance(header.get("kid", ""), str):
        raise Unauthenticated("the token's 'kid' is not a string", code="token_header_invalid")
    return header


def _algorithm(token: str) -> str | None:
    algorithm = _header(token).get("alg")
    return algorithm if isinstance(algorithm, str) else None


def _not_allowed(algorithm: str | None) -> Unauthenticated:
    return Unauthenticated(
        f"tokens signed with {algorithm!r} are not accepted",
        code="token_algorithm_not_allowed",
    )


def verify(token: str, *, secret: str) -> Principal:
    algorithm = _algorithm(token)
    if algorithm not in ALGORITHMS:
        raise _not_allowed(algorithm)
    return _decode(token, secret, ALGORITHMS)


def _decode(token: str, key: Any, algorithms: list[str]) -> Principal:
    # The expiry and the subject are read here, strictly (auth/claims.py): PyJWT took
    # "exp": "9999999999" (a string) and true (as 1: "expired").
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            options={"require": REQUIRED_CLAIMS, "verify_exp": False, "verify_sub": False},
        )
    except jwt.InvalidSignatureError:
        raise Unauthenticated(
            "the token's signature does not match", code="token_signature_invalid"
        ) from None
    except jwt.MissingRequiredClaimError as exc:
        raise Unauthenticated(
            f"the token lacks the {exc.claim!r} claim", code="token_claim_missing"
        ) from None
    except jwt.PyJWTError:  # any other refusal, including a key the algorithm cannot use
        raise Unauthenticated("the token is not valid", code="token_invalid") from None
    if expiry_of(claims) <= time.time():
        raise Unauthenticated("the token has expired", code="token_expired")
    return principal_of(claims)


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

"""JWTs: verified with distinct error codes for each way a token can be wrong.

Tokens are minted by the host application (HS256 with a shared secret); ``mint`` exists
for development and tests (``exportd token``).
"""

from __future__ import annotations

import time

import jwt

from exportd.auth.principal import Principal
from exportd.errors import Unauthenticated

ALGORITHMS = ["HS256"]
REQUIRED_CLAIMS = ["sub", "plan", "exp"]


def verify(token: str, *, secret: str) -> Principal:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError:
        raise Unauthenticated("the token is not a JWT", code="token_malformed") from None
    if header.get("alg") not in ALGORITHMS:
        raise Unauthenticated(
            f"tokens signed with {header.get('alg')!r} are not accepted",
            code="token_algorithm_not_allowed",
        )
    try:
        claims = jwt.decode(
            token, secret, algorithms=ALGORITHMS, options={"require": REQUIRED_CLAIMS}
        )
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

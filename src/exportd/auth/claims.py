"""A verified JWT's claims read strictly: each one its JSON type, or the token is refused.

Loose reading granted rights by accident (``"admin": "false"`` is a truthy string) and let
text the database cannot hold (NUL, lone surrogates, an over-long subject) reach it.
"""

from __future__ import annotations

import math
import re
from typing import Any

from exportd.auth.principal import KEY_OWNER_PREFIX, Principal
from exportd.auth.scopes import ALL, USER
from exportd.errors import Unauthenticated

# Column widths of owner_id and plan; an e-mail address is at most 320 characters.
MAX_LENGTH = {"sub": 255, "plan": 64, "email": 320}
# C0 controls, DEL and UTF-16 surrogates: no identifier has them.
_UNFIT = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def principal_of(claims: dict[str, Any]) -> Principal:
    user_id = _text(claims, "sub")
    if user_id.startswith(KEY_OWNER_PREFIX):
        raise Unauthenticated(
            f"a token's subject may not start with {KEY_OWNER_PREFIX!r}: it names API keys",
            code="token_subject_reserved",
        )
    is_admin = _flag(claims, "admin")
    email = _text(claims, "email") if claims.get("email") is not None else None
    return Principal(
        user_id=user_id,
        plan=_text(claims, "plan"),
        email=email,
        is_admin=is_admin,
        scopes=ALL if is_admin else USER,
    )


def expiry_of(claims: dict[str, Any]) -> float:
    """The ``exp`` claim: a NumericDate (RFC 7519), a JSON number, never a string or a
    boolean."""
    value = claims.get("exp")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _invalid("exp", "a number (seconds since 1970)")
    return float(value)


def _text(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise _invalid(name, "a non-empty string")
    if len(value) > MAX_LENGTH[name] or _UNFIT.search(value):
        raise _invalid(name, f"at most {MAX_LENGTH[name]} printable characters")
    return value


def _flag(claims: dict[str, Any], name: str) -> bool:
    # Only the JSON literal true grants: "false", 1 or "yes" are refused, not guessed.
    value = claims.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _invalid(name, "true or false")
    return value


def _invalid(name: str, wanted: str) -> Unauthenticated:
    return Unauthenticated(
        f"the token's {name!r} claim must be {wanted}", code="token_claim_invalid"
    )

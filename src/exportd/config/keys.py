"""The keys user tokens are checked with."""

from __future__ import annotations

from exportd.config.settings import Settings


def jwt_key(settings: Settings) -> str:
    """The HS256 key of user tokens (in development, the secret key stands in)."""
    secret = settings.jwt_secret or settings.secret_key
    return secret.get_secret_value()


def hs256_key(settings: Settings) -> str | None:
    """The HS256 key, or None when only JWKS tokens are accepted (production without one)."""
    if settings.jwt_secret is None and settings.env == "production":
        return None
    return jwt_key(settings)

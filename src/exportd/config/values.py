"""Constants and value parsers the settings share: the environment prefix, the
development secret production refuses, webhook keys and browser origins."""

from __future__ import annotations

import base64
from urllib.parse import urlsplit

ENV_PREFIX = "EXPORTD_"
DEV_SECRET = "exportd-development-secret-change-me"  # noqa: S105 - refused in production
# HMAC keys shorter than the hash's output weaken it (RFC 2104, RFC 7518 3.2 for HS256);
# Standard Webhooks secrets are 24 to 64 bytes.
MIN_SECRET_BYTES = 32
MIN_WEBHOOK_SECRET_BYTES = 24


def webhook_key(secret: str) -> bytes:
    """The key of a ``whsec_<base64>`` secret, read as Standard Webhooks libraries read it
    (padding optional); ValueError for anything else."""
    if not secret.startswith("whsec_"):
        raise ValueError("a webhook secret is whsec_ followed by base64")
    encoded = secret.removeprefix("whsec_")
    key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    if not key:
        raise ValueError("a webhook secret may not be empty")
    return key


def web_origin(text: str) -> str:
    """``text`` as a browser writes it in an ``Origin`` header (lower case, no default
    port), or ValueError: a listed origin written any other way would never match."""
    parts = urlsplit(text.strip())
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or "*" in text
        or any((parts.path, parts.query, parts.fragment, parts.username, parts.password))
    ):
        raise ValueError(f"{text!r} is not an origin: scheme://host[:port], nothing after it")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    port = parts.port  # a port out of range is a ValueError too
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")

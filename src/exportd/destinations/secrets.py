"""Destination credentials at rest: AES-256-GCM under a key derived from
``EXPORTD_SECRET_KEY`` with HKDF-SHA256 (its own ``info``, so the key signs nothing else).

The associated data is the destination's id and owner: a sealed secret copied onto
another row — another user's destination, or another of one's own — does not open
there.  A sealed value reads ``v1.<base64url(nonce ‖ ciphertext ‖ tag)>``; the version
leaves room for another scheme (or a rotated key) later.  A secret is never logged,
returned or put into an error message; a changed ``EXPORTD_SECRET_KEY`` makes every
sealed secret unreadable (``destination_secret_unreadable``): set them again.
"""

from __future__ import annotations

import base64
import os
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from exportd.errors import TerminalJobError

VERSION = "v1"
_INFO = b"exportd destination secrets v1"
_NONCE_BYTES = 12


def _key(secret_key: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO)
    return hkdf.derive(secret_key.encode())


def _bound_to(destination_id: str, owner_id: str) -> bytes:
    # JSON, so no id and owner pair can be made to read as another ("a/b" + "c").
    return orjson.dumps(["exportd.destination", destination_id, owner_id])


def seal(secret: dict[str, Any], *, secret_key: str, destination_id: str, owner_id: str) -> str:
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(_key(secret_key)).encrypt(
        nonce, orjson.dumps(secret), _bound_to(destination_id, owner_id)
    )
    return f"{VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def unseal(sealed: str, *, secret_key: str, destination_id: str, owner_id: str) -> dict[str, Any]:
    """The secret, or a terminal ``destination_secret_unreadable``: retrying cannot help."""
    version, _, body = sealed.partition(".")
    try:
        if version != VERSION:
            raise ValueError(version)
        raw = base64.urlsafe_b64decode(body.encode())
        opened = AESGCM(_key(secret_key)).decrypt(
            raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _bound_to(destination_id, owner_id)
        )
        value = orjson.loads(opened)
    except (InvalidTag, ValueError, orjson.JSONDecodeError):
        raise TerminalJobError(
            "the destination's secret cannot be read (EXPORTD_SECRET_KEY changed?): set it again",
            code="destination_secret_unreadable",
        ) from None
    if not isinstance(value, dict):
        raise TerminalJobError(
            "the destination's secret is not an object", code="destination_secret_unreadable"
        )
    return value

"""The Ed25519 key that signs split exports' manifests, and the keys that check them.

The signing key is configured (``EXPORTD_MANIFEST_SIGNING_KEY``, a PKCS#8 PEM) or derived
from ``EXPORTD_SECRET_KEY`` with HKDF-SHA256 under a label of its own: every node and
every worker child derives the same key with no key file to ship, the public key reveals
nothing of the secret (HKDF is one-way), and the label keeps it apart from the HMAC keys
made of the same secret (download links, webhooks).  Public keys are published as a JWK
set (RFC 8037 ``OKP``/``Ed25519``), each named by its RFC 7638 thumbprint, so a verifier
picks the key a manifest names and a changed key gets a new name.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

if TYPE_CHECKING:
    from exportd.config import Settings

# Changing either makes a new key: every manifest signed before would need the old one.
HKDF_SALT = b"exportd manifest signing"
HKDF_INFO = b"exportd/manifest-signing-key/ed25519/v1"
ALGORITHM = "Ed25519"


@dataclass(frozen=True, slots=True)
class PublicKey:
    kid: str
    key: Ed25519PublicKey

    def verifies(self, signature: bytes, data: bytes) -> bool:
        try:
            self.key.verify(signature, data)
        except InvalidSignature:
            return False
        return True

    def jwk(self) -> dict[str, str]:
        return {**_jwk_members(self.key), "kid": self.kid, "use": "sig", "alg": "EdDSA"}


@dataclass(frozen=True, slots=True)
class SigningKey:
    private: Ed25519PrivateKey

    @property
    def public(self) -> PublicKey:
        key = self.private.public_key()
        return PublicKey(kid_of(key), key)

    def sign(self, data: bytes) -> bytes:
        """A detached signature of exactly these bytes (64 bytes, RFC 8032)."""
        return self.private.sign(data)


def derived(secret_key: str) -> SigningKey:
    """The signing key every node derives from the same EXPORTD_SECRET_KEY."""
    seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=HKDF_SALT, info=HKDF_INFO).derive(
        secret_key.encode()
    )
    return SigningKey(Ed25519PrivateKey.from_private_bytes(seed))


def from_pem(pem: str) -> SigningKey:
    """A configured key: PKCS#8 PEM of an Ed25519 private key (``openssl genpkey
    -algorithm ed25519``); ValueError for anything else (never the key in the message)."""
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError("not a PEM private key without a password") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("an Ed25519 key is needed (openssl genpkey -algorithm ed25519)")
    return SigningKey(key)


def signing_key(secret_key: str, configured: str | None) -> SigningKey:
    return from_pem(configured) if configured else derived(secret_key)


def for_settings(settings: Settings) -> SigningKey:
    """EXPORTD_MANIFEST_SIGNING_KEY, else the key derived from EXPORTD_SECRET_KEY."""
    configured = settings.manifest_signing_key
    return signing_key(
        settings.secret_key.get_secret_value(),
        configured.get_secret_value() if configured is not None else None,
    )


def published(settings: Settings) -> list[PublicKey]:
    """The keys this service vouches for: the signing key's, then the retired ones
    (EXPORTD_MANIFEST_RETIRED_KEYS), each once."""
    signing = for_settings(settings).public
    keys = {signing.kid: signing}
    if settings.manifest_retired_keys is not None:
        for key in read_public_keys(json.dumps(settings.manifest_retired_keys)):
            keys.setdefault(key.kid, key)
    return list(keys.values())


def kid_of(key: Ed25519PublicKey) -> str:
    """RFC 7638: the SHA-256 of the key's required JWK members, in order, without spaces."""
    canonical = json.dumps(_jwk_members(key), separators=(",", ":"), sort_keys=True)
    return _b64(hashlib.sha256(canonical.encode()).digest())


def key_set(*keys: PublicKey) -> dict[str, Any]:
    """The JWK set a verifier downloads once and keeps (``--key FILE``)."""
    return {"keys": [k.jwk() for k in keys]}


def read_public_keys(text: str) -> list[PublicKey]:
    """Keys from what a verifier was given: a JWK set, one JWK, a PEM public key (or a
    PEM private key: its public half).  ValueError says what the text is not."""
    stripped = text.strip()
    if stripped.startswith("-----BEGIN"):
        return [_from_pem_text(stripped)]
    try:
        document = json.loads(stripped)
    except ValueError:
        raise ValueError("neither a JWK set, a JWK nor a PEM key") from None
    members = document.get("keys", [document]) if isinstance(document, dict) else None
    if not isinstance(members, list):
        raise ValueError("a JWK set's `keys` must be a list")
    found = [_from_jwk(m) for m in members if isinstance(m, dict) and m.get("crv") == ALGORITHM]
    if not found:
        raise ValueError("no Ed25519 key in it (kty OKP, crv Ed25519)")
    return found


def _from_pem_text(pem: str) -> PublicKey:
    if "PRIVATE KEY" in pem:
        return from_pem(pem).public
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError):
        raise ValueError("not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return PublicKey(kid_of(key), key)


def _from_jwk(jwk: dict[str, Any]) -> PublicKey:
    try:
        raw = base64.urlsafe_b64decode(str(jwk["x"]) + "=" * (-len(str(jwk["x"])) % 4))
        key = Ed25519PublicKey.from_public_bytes(raw)
    except (KeyError, ValueError, TypeError):
        raise ValueError("a JWK without a valid Ed25519 `x`") from None
    # The name is the key's own thumbprint, whatever `kid` the file claims.
    return PublicKey(kid_of(key), key)


def _jwk_members(key: Ed25519PublicKey) -> dict[str, str]:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"crv": ALGORITHM, "kty": "OKP", "x": _b64(raw)}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")

"""The manifest signing key: derived from EXPORTD_SECRET_KEY the same way everywhere, or
configured; named by its RFC 7638 thumbprint; read back from what the server publishes."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exportd.config import load_settings
from exportd.errors import ConfigError
from exportd.manifest_keys import (
    SigningKey,
    derived,
    for_settings,
    from_pem,
    key_set,
    published,
    read_public_keys,
)

# RFC 8037, appendix A.1 to A.4: an Ed25519 key, its thumbprint, a signature.
RFC_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
RFC_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
RFC_KID = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
RFC_INPUT = b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
RFC_SIGNATURE = (
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)


def b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def pem_of(key: Ed25519PrivateKey | rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def test_the_key_id_is_the_rfc_7638_thumbprint_and_signatures_are_rfc_8032s() -> None:
    key = SigningKey(Ed25519PrivateKey.from_private_bytes(b64(RFC_D)))
    assert key.public.jwk() == {
        "crv": "Ed25519",
        "kty": "OKP",
        "x": RFC_X,
        "kid": RFC_KID,
        "use": "sig",
        "alg": "EdDSA",
    }
    assert key.sign(RFC_INPUT) == b64(RFC_SIGNATURE)


def test_every_node_derives_the_same_key_and_another_secret_another_key() -> None:
    secret = "a-production-secret-of-enough-bytes-0123456789"
    assert derived(secret).public.kid == derived(secret).public.kid
    assert derived(secret).sign(b"m") == derived(secret).sign(b"m")
    assert derived(secret + "x").public.kid != derived(secret).public.kid
    settings = load_settings(secret_key=secret)
    assert for_settings(settings).public.kid == derived(secret).public.kid


def test_a_configured_key_wins_over_the_derived_one() -> None:
    private = Ed25519PrivateKey.generate()
    settings = load_settings(secret_key="s" * 40, manifest_signing_key=pem_of(private))
    assert for_settings(settings).sign(b"m") == private.sign(b"m")
    assert for_settings(settings).public.kid != derived("s" * 40).public.kid


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", "not a PEM private key"),
        (pem_of(rsa.generate_private_key(public_exponent=65537, key_size=1024)), "Ed25519"),
    ],
)
def test_a_bad_configured_key_stops_the_start_naming_the_setting(value: str, said: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(manifest_signing_key=value)
    assert "EXPORTD_MANIFEST_SIGNING_KEY" in refused.value.message
    assert said in refused.value.message
    assert "AAAA" not in refused.value.message
    assert "MII" not in refused.value.message


def test_the_published_set_a_single_jwk_and_pem_all_read_back() -> None:
    key = derived("k" * 40)
    published = json.dumps(key_set(key.public))
    (from_set,) = read_public_keys(published)
    (from_jwk,) = read_public_keys(json.dumps(key.public.jwk()))
    pem = (
        key.private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    (from_pem_text,) = read_public_keys(pem)
    (from_private,) = read_public_keys(pem_of(key.private))
    assert {k.kid for k in (from_set, from_jwk, from_pem_text, from_private)} == {key.public.kid}
    assert from_set.verifies(key.sign(b"data"), b"data")
    assert not from_set.verifies(key.sign(b"data"), b"date")


def test_a_jwk_claiming_another_kid_is_named_by_its_own_thumbprint() -> None:
    jwk = {**derived("k" * 40).public.jwk(), "kid": "the-signers-kid"}
    (key,) = read_public_keys(json.dumps(jwk))
    assert key.kid == derived("k" * 40).public.kid


def test_from_pem_refuses_what_is_not_an_ed25519_private_key() -> None:
    with pytest.raises(ValueError, match="not a PEM private key"):
        from_pem("hello")


def test_a_rotated_key_keeps_the_old_one_published_and_checking() -> None:
    """Rotation: the new key signs; the old public key, saved from the key set before the
    change, stays published so what it signed still verifies."""
    old = derived("old-secret-" + "o" * 40)
    saved = key_set(old.public)  # curl …/exportd-manifest-keys before rotating
    settings = load_settings(secret_key="new-secret-" + "n" * 40, manifest_retired_keys=saved)
    keys = published(settings)
    assert [k.kid for k in keys] == [for_settings(settings).public.kid, old.public.kid]
    assert keys[1].verifies(old.sign(b"manifest"), b"manifest")
    # Listing the current key among the retired ones publishes it once.
    again = load_settings(
        secret_key="new-secret-" + "n" * 40,
        manifest_retired_keys={"keys": [*saved["keys"], for_settings(settings).public.jwk()]},
    )
    assert [k.kid for k in published(again)] == [k.kid for k in keys]


def test_a_bad_retired_key_stops_the_start_naming_the_setting() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(manifest_retired_keys={"keys": []})
    assert "EXPORTD_MANIFEST_RETIRED_KEYS" in refused.value.message
    assert "no Ed25519 key in it" in refused.value.message

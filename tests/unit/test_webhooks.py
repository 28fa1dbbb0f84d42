"""Webhook signing (Standard Webhooks) and the address guard."""

from __future__ import annotations

import base64
import socket
import time
from typing import Any

import pytest
import standardwebhooks

from exportd.config import load_settings
from exportd.delivery import webhooks
from exportd.errors import ConfigError, RetryableJobError, TerminalJobError


def test_signature_matches_the_standard_webhooks_reference_vector() -> None:
    key = webhooks.signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    signature = webhooks.sign(
        key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize(
    "secret",
    [
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",  # the reference secret
        "whsec_" + base64.b64encode(b"k" * 31).decode().rstrip("="),  # unpadded
        webhooks.derived_secret("service-key"),  # what EXPORTD_SECRET_KEY derives
    ],
)
def test_the_standard_webhooks_library_verifies_every_accepted_secret(secret: str) -> None:
    assert load_settings(webhook_secret=secret).webhook_secret is not None
    body = b'{"type": "export.completed"}'
    timestamp = int(time.time())
    headers = {
        "webhook-id": "d1",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhooks.sign(webhooks.signing_key(secret), "d1", timestamp, body),
    }
    assert standardwebhooks.Webhook(secret).verify(body, headers) == {"type": "export.completed"}


@pytest.mark.parametrize("secret", ["plain text", "whsec_", "whsec_not base64!", "c2VjcmV0"])
def test_secrets_no_library_could_verify_stop_the_start(secret: str) -> None:
    with pytest.raises(ConfigError, match=r"EXPORTD_WEBHOOK_SECRET.*whsec_ followed by base64"):
        load_settings(webhook_secret=secret)


def test_a_changed_body_id_or_timestamp_fails_verification() -> None:
    key = webhooks.signing_key(webhooks.derived_secret("service-key"))
    header = webhooks.sign(key, "d1", 100, b"{}")
    assert webhooks.verify(key, "d1", 100, b"{}", f"v1,bogus {header}")
    assert not webhooks.verify(key, "d1", 100, b"{ }", header)
    assert not webhooks.verify(key, "d2", 100, b"{}", header)
    assert not webhooks.verify(key, "d1", 101, b"{}", header)
    assert not webhooks.verify(b"other", "d1", 100, b"{}", header)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.9",
        "192.168.1.1",
        "169.254.169.254",
        "0.0.0.0",
        "100.64.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "224.0.0.1",
    ],
)
def test_private_loopback_link_local_and_reserved_addresses_are_refused(address: str) -> None:
    assert webhooks.refused(address)


@pytest.mark.parametrize(
    "address",
    [
        "::127.0.0.1",  # IPv4-compatible (deprecated)
        "::a00:1",  # the same form around 10.0.0.1
        "::ffff:0:7f00:1",  # SIIT IPv4-translated
        "::ffff:0:a9fe:a9fe",  # SIIT around the cloud metadata address
        "64:ff9b::7f00:1",  # NAT64 well-known prefix around 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 around 169.254.169.254
        "64:ff9b:1::5db8:d822",  # NAT64 local-use prefix: never public
        "2002:7f00:1::",  # 6to4 around 127.0.0.1
        "2002:c0a8:101::1",  # 6to4 around 192.168.1.1
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
        "2001:0:a00:1::1",  # Teredo, server 10.0.0.1
        "2606:2800:220:1:0:5efe:7f00:1",  # ISATAP interface id around 127.0.0.1
    ],
)
def test_ipv6_forms_that_embed_a_private_ipv4_address_are_refused(address: str) -> None:
    assert webhooks.refused(address)


@pytest.mark.parametrize(
    "url",
    ["http://[::127.0.0.1]/hook", "http://[64:ff9b::7f00:1]/hook", "http://[2002:7f00:1::]/"],
)
def test_embedded_ipv4_literals_are_refused_before_any_lookup(url: str) -> None:
    with pytest.raises(TerminalJobError) as raised:
        webhooks.check_url(url, allow_private=False)
    assert raised.value.code == "webhook_address_refused"


def test_a_name_resolving_to_a_nat64_form_of_a_private_address_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _resolving_to(monkeypatch, "64:ff9b::a00:5")
    with pytest.raises(TerminalJobError) as raised:
        webhooks.resolve("https://hooks.example.com/x", allow_private=False)
    assert raised.value.code == "webhook_address_refused"


@pytest.mark.parametrize(
    "address",
    [
        "93.184.216.34",
        "2606:2800:220:1::",
        "64:ff9b::5db8:d822",  # NAT64 around a public address
        "2002:5db8:d822::1",  # 6to4 around a public address
    ],
)
def test_public_addresses_pass(address: str) -> None:
    assert not webhooks.refused(address)


@pytest.mark.parametrize("url", ["http://134744072/x", "http://deadbeef/x", "http://1.2.3.4.5/"])
def test_names_and_public_numbers_pass_the_check_before_lookup(url: str) -> None:
    webhooks.check_url(url, allow_private=False)  # 134744072 is 8.8.8.8


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://example.com/x", "webhook_url_invalid"),
        ("http:///nohost", "webhook_url_invalid"),
        ("https://user:pw@example.com/", "webhook_url_invalid"),
        ("https://example.com:99999/", "webhook_url_invalid"),
        ("http://127.0.0.1:8080/hook", "webhook_address_refused"),
        ("http://localhost/hook", "webhook_address_refused"),
        ("http://[::1]/hook", "webhook_address_refused"),
        # The forms inet_aton and so getaddrinfo read as IPv4 (127.0.0.1, 10.0.0.1).
        ("http://2130706433/x", "webhook_address_refused"),
        ("http://0x7f000001/x", "webhook_address_refused"),
        ("http://127.1/x", "webhook_address_refused"),
        ("http://012.0.0.1/x", "webhook_address_refused"),
    ],
)
def test_bad_urls_are_refused_before_any_lookup(url: str, code: str) -> None:
    with pytest.raises(TerminalJobError) as raised:
        webhooks.check_url(url, allow_private=False)
    assert raised.value.code == code


def _resolving_to(monkeypatch: pytest.MonkeyPatch, *addresses: str) -> None:
    def fake(host: str, port: int, **_: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    monkeypatch.setattr(webhooks.socket, "getaddrinfo", fake)


def test_a_name_resolving_to_any_private_address_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _resolving_to(monkeypatch, "93.184.216.34", "10.0.0.5")
    with pytest.raises(TerminalJobError) as raised:
        webhooks.resolve("https://hooks.example.com/x", allow_private=False)
    assert raised.value.code == "webhook_address_refused"


def test_the_resolved_address_is_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    _resolving_to(monkeypatch, "93.184.216.34")
    target = webhooks.resolve("https://hooks.example.com:8443/in?a=1", allow_private=False)
    assert (target.host, target.port, target.path, target.address) == (
        "hooks.example.com",
        8443,
        "/in?a=1",
        "93.184.216.34",
    )


@pytest.mark.parametrize(
    ("status", "error", "code"),
    [
        (301, TerminalJobError, "webhook_redirect_refused"),
        (400, TerminalJobError, "webhook_rejected"),
        (410, TerminalJobError, "webhook_rejected"),
        (429, RetryableJobError, "webhook_failed"),
        (503, RetryableJobError, "webhook_failed"),
    ],
)
def test_answers_are_judged(status: int, error: type[Exception], code: str) -> None:
    with pytest.raises(error) as raised:
        webhooks._judge(status)
    assert raised.value.code == code  # type: ignore[attr-defined]
    assert webhooks._judge(204) == 204

"""Webhooks in the Standard Webhooks style, sent so they cannot be turned against us.

Signing: ``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` with
``webhook-id`` and ``webhook-timestamp`` beside it; a receiver checks it with the shared
secret (``whsec_<base64>``).

Sending: the host is resolved once; if any address is private, loopback, link-local or
otherwise not public (IPv4 addresses embedded in IPv6 ones included: see
:mod:`exportd.delivery.addresses`) the request is refused (unless allowed by settings), and the
connection goes to that very address (no second lookup a DNS rebinding could change).
Redirects are not followed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from exportd import tracing
from exportd.config import Settings, webhook_key
from exportd.delivery.addresses import literally_private, refused
from exportd.errors import RetryableJobError, TerminalJobError

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret


def signing_key(secret: str) -> bytes:
    """The key of a ``whsec_<base64>`` secret, read as Standard Webhooks libraries read it;
    ValueError for any other form (settings refuse one at start)."""
    return webhook_key(secret)


def derived_secret(secret_key: str) -> str:
    """A webhook secret derived from the service key, so it needs no setting of its own."""
    digest = hmac.new(secret_key.encode(), b"exportd webhook signing", hashlib.sha256).digest()
    return SECRET_PREFIX + base64.b64encode(digest).decode()


def secret_for(settings: Settings) -> str:
    """EXPORTD_WEBHOOK_SECRET, or one derived from EXPORTD_SECRET_KEY."""
    if settings.webhook_secret is not None:
        return settings.webhook_secret.get_secret_value()
    return derived_secret(settings.secret_key.get_secret_value())


def sign(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(key: bytes, message_id: str, timestamp: int, body: bytes, header: str) -> bool:
    """What a receiver does (the tests use it): any listed v1 signature may match."""
    expected = sign(key, message_id, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in header.split())


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    address: str


def check_url(url: str, *, allow_private: bool = True) -> tuple[str, str, int, str]:
    """Scheme, host, port and path of a webhook URL, or a terminal error naming the fault.
    Without ``allow_private``, a literal private address or ``localhost`` is refused here
    already (names are resolved and checked when sending)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TerminalJobError(
            "the webhook URL must be http(s)://host/...", code="webhook_url_invalid"
        )
    if parts.username or parts.password:
        raise TerminalJobError(
            "the webhook URL must not carry credentials", code="webhook_url_invalid"
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise TerminalJobError(
            "the webhook URL has an invalid port", code="webhook_url_invalid"
        ) from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if not allow_private and literally_private(parts.hostname):
        raise _private(parts.hostname)
    return parts.scheme, parts.hostname, port, path


def _private(host: str) -> TerminalJobError:
    return TerminalJobError(
        f"the webhook host {host!r} is a private or reserved address; "
        "set EXPORTD_WEBHOOK_ALLOW_PRIVATE to allow it",
        code="webhook_address_refused",
    )


def resolve(url: str, *, allow_private: bool) -> Target:
    scheme, host, port, path = check_url(url, allow_private=allow_private)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise RetryableJobError(
            f"the webhook host {host!r} does not resolve", code="webhook_unreachable"
        ) from None
    addresses = [str(info[4][0]) for info in infos]
    if not allow_private and any(refused(a) for a in addresses):
        raise _private(host)
    return Target(scheme, host, port, path, addresses[0])


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self.address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        self.tls = ssl.create_default_context()
        super().__init__(target.host, target.port, timeout=timeout, context=self.tls)
        self.address = target.address

    def connect(self) -> None:
        # The certificate is checked against the host name; the socket goes to the pin.
        raw = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self.tls.wrap_socket(raw, server_hostname=self.host)


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    allow_private: bool,
    timeout: float,
) -> int:
    """POST once; returns the status of a 2xx answer, raises a classified error otherwise.
    Traced as ``exportd.webhook.post`` with the receiver's host (never the URL's path or
    query, which may hold its token); the receiver gets the span's ``traceparent``."""
    with tracing.span(
        "exportd.webhook.post", {"http.request.method": "POST"}, kind="client"
    ) as span:
        target = resolve(url, allow_private=allow_private)
        span.set("server.address", target.host)
        span.set("server.port", target.port)
        headers = {"Content-Type": "application/json", **headers}
        tracing.inject(headers)
        status = _send(target, body, headers, timeout)
        span.set("http.response.status_code", status)
        return _judge(status)


def _send(target: Target, body: bytes, headers: dict[str, str], timeout: float) -> int:
    connection_type = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
    connection = connection_type(target, timeout)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        answer = connection.getresponse()
        answer.read(64 << 10)
    except (OSError, http.client.HTTPException) as exc:
        raise RetryableJobError(
            f"the webhook receiver could not be reached: {type(exc).__name__}",
            code="webhook_unreachable",
        ) from None
    finally:
        connection.close()
    return answer.status


def _judge(status: int) -> int:
    if 200 <= status < 300:
        return status
    if 300 <= status < 400:
        raise TerminalJobError(
            f"the webhook receiver answered {status}; redirects are not followed",
            code="webhook_redirect_refused",
        )
    if status in (408, 425, 429) or status >= 500:
        raise RetryableJobError(f"the webhook receiver answered {status}", code="webhook_failed")
    raise TerminalJobError(f"the webhook receiver answered {status}", code="webhook_rejected")

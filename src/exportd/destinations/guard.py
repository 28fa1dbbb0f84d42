"""Destination hosts go through the webhooks' guard against server-side request forgery.

A host that is, or resolves to, a private, loopback, link-local or reserved address
(IPv4 inside IPv6 unwrapped: :mod:`exportd.delivery.addresses`) is refused unless
``EXPORTD_DESTINATION_ALLOW_PRIVATE`` is on.  It is checked when the destination is
saved (a literal address, and the name's answer when it resolves then) and again at
every connection made to deliver or test: the name is resolved once, the answer
checked, and the socket goes to that very address, so a DNS answer that changes in
between (rebinding) cannot point exportd inside.
"""

from __future__ import annotations

import contextlib
import socket

from exportd.delivery.addresses import literally_private, refused
from exportd.errors import RetryableJobError, TerminalJobError


def address_refused(host: str) -> TerminalJobError:
    return TerminalJobError(
        f"the destination host {host!r} is a private or reserved address; "
        "set EXPORTD_DESTINATION_ALLOW_PRIVATE to allow it",
        code="destination_address_refused",
    )


def resolve(host: str, port: int, *, allow_private: bool) -> str:
    """One checked address of ``host`` to connect to (the first the resolver gives)."""
    host = host.strip("[]")
    if not allow_private and literally_private(host):
        raise address_refused(host)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise RetryableJobError(
            f"the destination host {host!r} does not resolve", code="destination_unreachable"
        ) from None
    addresses = [str(info[4][0]) for info in infos]
    if not allow_private and any(refused(address) for address in addresses):
        raise address_refused(host)
    return addresses[0]


def check_when_saved(host: str, port: int, *, allow_private: bool) -> None:
    """At create and change: refused if private now; a name that does not resolve yet is
    let through (it is resolved, and checked, at each connection)."""
    with contextlib.suppress(RetryableJobError):
        resolve(host, port, allow_private=allow_private)


def connect(host: str, port: int, *, allow_private: bool, timeout: float) -> socket.socket:
    """A socket to a checked address of ``host``; unreachable is retryable."""
    address = resolve(host, port, allow_private=allow_private)
    try:
        return socket.create_connection((address, port), timeout)
    except OSError as exc:
        raise RetryableJobError(
            f"{host}:{port} cannot be reached: {type(exc).__name__}",
            code="destination_unreachable",
        ) from None

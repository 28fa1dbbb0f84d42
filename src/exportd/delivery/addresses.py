"""Which addresses an outbound request may go to: public ones only.

An IPv6 address can carry an IPv4 one inside it, and a gateway on the way (a NAT64
box, a 6to4 or Teredo relay, a dual-stack kernel) may deliver the packet to that IPv4
address. ``::127.0.0.1`` or ``64:ff9b::7f00:1`` look global to ``ipaddress`` but reach
loopback, so every embedding is unwrapped and each embedded address checked too:

============================  ===================  ==============================
form                          prefix               where the IPv4 address sits
============================  ===================  ==============================
IPv4-mapped                   ``::ffff:0:0/96``    the low 32 bits
IPv4-compatible (deprecated)  ``::/96``            the low 32 bits
SIIT IPv4-translated          ``::ffff:0:0:0/96``  the low 32 bits
NAT64 well-known              ``64:ff9b::/96``     the low 32 bits
NAT64 local-use (RFC 8215)    ``64:ff9b:1::/48``   anywhere: refused whole
6to4                          ``2002::/16``        bits 16-47
Teredo                        ``2001::/32``        the server, and the client
ISATAP                        ``…:0:5efe:a.b.c.d`` the low 32 bits
============================  ===================  ==============================
"""

from __future__ import annotations

import ipaddress
import socket

_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")
_LOW_32 = 0xFFFFFFFF
_ISATAP_IDS = (0x00005EFE, 0x02005EFE)


def literally_private(host: str) -> bool:
    """A host that is plainly not public before any look-up: ``localhost`` (and its
    subdomains) or an address literal that :func:`refused` refuses.  Names are resolved
    and checked when connecting."""
    host = host.strip("[]")  # an IPv6 literal as a URL writes it
    if host.casefold() == "localhost" or host.casefold().endswith(".localhost"):
        return True
    try:
        return refused(host)
    except ValueError:  # not an address as ipaddress writes one
        pass
    legacy = _legacy_ipv4(host)
    return legacy is not None and refused(legacy)


def _legacy_ipv4(host: str) -> str | None:
    """The IPv4 address a resolver reads in ``2130706433``, ``0x7f000001``, ``0177.1`` or
    ``127.1`` (inet_aton's forms, which getaddrinfo takes too), dotted; None for a name."""
    if not host or not all(c in "0123456789abcdefABCDEFxX." for c in host):
        return None
    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return None


def refused(address: str) -> bool:
    """True unless the address, and every IPv4 address embedded in it, is public."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64_LOCAL_USE:
            return True
        if any(_not_public(inner) for inner in embedded_ipv4(ip)):
            return True
    return _not_public(ip)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """Every IPv4 address that a translator or tunnel could deliver this address to."""
    value, found = int(ip), []
    high_96 = value >> 32
    if high_96 in (0, 0xFFFF, 0xFFFF_0000) or ip in _NAT64_WELL_KNOWN:
        found.append(ipaddress.IPv4Address(value & _LOW_32))
    if (value >> 32) & _LOW_32 in _ISATAP_IDS:
        found.append(ipaddress.IPv4Address(value & _LOW_32))
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    return found


def _not_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return not ip.is_global or ip.is_multicast

"""The service's rule for the URLs it fetches for clients (``POST /api/v1/detect/url``): public addresses only.

A service that fetches what a client names can be made to reach what only the server can reach (server-side
request forgery): its own loopback ports, the private network behind it, a cloud's metadata endpoint at
169.254.169.254. So every address a hop's host resolves to must be public, redirects included, and the fetch
connects to that very address (:mod:`sentry_image.imaging.fetch` resolves once and pins the connection, so a DNS
answer that changes after the check cannot slip a private address in).

Refused: loopback (127/8, ::1), private (RFC 1918, fc00::/7 ULA), link-local (169.254/16, fe80::/10), multicast,
unspecified (0.0.0.0, ::), reserved (240/4, ...), and anything else the IANA registries do not mark globally
reachable (100.64/10 carrier-grade NAT, documentation and benchmarking ranges, ...). An IPv6 address that
carries an IPv4 one (IPv4-mapped ``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4, Teredo) is judged by the IPv4
address too, since the packets may end up there.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from ..imaging.fetch import AddressGuard, FetchOptions, IPAddress

# Shorter than the command line's defaults: a client waits on the answer, and a request holds a detection slot.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
TOTAL_TIMEOUT = 30.0
MAX_REDIRECTS = 5

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# (label, ipaddress property): the first that holds names the refusal; order gives the most telling name.
_KINDS = (("unspecified", "is_unspecified"), ("loopback", "is_loopback"), ("link-local", "is_link_local"),
          ("multicast", "is_multicast"), ("private", "is_private"), ("reserved", "is_reserved"))


def _carried(address: IPAddress) -> list[IPAddress]:
    """The address and any IPv4 address an IPv6 one carries (an IPv4-mapped one is that IPv4 address, no more:
    the IPv6 form itself sits in a range ``ipaddress`` calls reserved)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    found: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        if address.sixtofour is not None:
            found.append(address.sixtofour)
        if address.teredo is not None:
            found.append(address.teredo[1])  # (server, client): the client is where the packets go
        if address in _NAT64:
            found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def public_only(address: IPAddress) -> str | None:
    """Why ``address`` must not be fetched from, or ``None`` when it is a public unicast address."""
    for candidate in _carried(address):
        for label, attribute in _KINDS:
            if getattr(candidate, attribute):
                return f"{candidate} is a {label} address"
        if not candidate.is_global:
            return f"{candidate} is not a public address"
    return None


def service_guard(state: Any) -> AddressGuard:
    """The rule in force: :func:`public_only`, unless ``app.state.url_guard`` holds another one.

    The service never sets ``url_guard`` and nothing a client sends can: it exists so that tests can let their own
    loopback server through (``app.state.url_guard = ...``) and prove a URL is really fetched end to end, which
    :func:`public_only` would otherwise refuse, while the refusal itself is tested with the rule as shipped.
    """
    guard: AddressGuard | None = getattr(state, "url_guard", None)
    return guard if guard is not None else public_only


def service_fetch_options(state: Any) -> FetchOptions:
    """How the service fetches: its guard on every hop, its timeouts and redirect limit."""
    return FetchOptions(connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT, total_timeout=TOTAL_TIMEOUT,
                        max_redirects=MAX_REDIRECTS, guard=service_guard(state))


__all__ = ["public_only", "service_fetch_options", "service_guard"]

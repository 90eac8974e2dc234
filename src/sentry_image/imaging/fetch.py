"""Fetch an image named by an http(s) URL: streamed under a byte cap, bounded in time and in redirects.

Standard library only (``socket``, ``ssl``, ``http.client``): the core install stays small, and unlike
``urllib.request`` this level lets each hop be resolved once, every resolved address be checked by an optional
:data:`AddressGuard`, and the connection be made to exactly the address that was checked (the TLS handshake and the
``Host`` header still use the name). A DNS answer that changes between the check and the connection therefore
cannot reach an address the guard refused. The command line fetches with no guard (a local user may read their
own loopback servers); the service passes its own rule (``sentry_image.serve.urlguard``).

Every failure raises :class:`~sentry_image.types.ImageError` named by the URL asked for, with one of these codes:

=============  ==================================================================================================
code           meaning
=============  ==================================================================================================
fetch_failed   the URL could not be fetched: DNS, connection, TLS, timeout, HTTP status >= 400, too many
               redirects, a redirect to a scheme other than http(s), a malformed or cut-short response; the
               message says which
fetch_refused  the guard refused an address a hop's host resolves to (the service's rule against SSRF)
too_large      the declared ``Content-Length`` is over the byte cap, or the body passes it (reading stops at
               once: at most cap + 1 bytes are ever read)
=============  ==================================================================================================
"""

from __future__ import annotations

import functools
import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from ..types import ImageError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: Says why an address must not be contacted, or ``None`` to allow it.
AddressGuard = Callable[[IPAddress], str | None]
_Resolved = list[tuple[socket.AddressFamily, tuple[Any, ...]]]  # (family, socket address) as getaddrinfo gives

SCHEMES = ("http", "https")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
_SAFE = "/%:@!$&'()*+,;=-._~"  # reserved and unreserved characters of RFC 3986 that a path or query may carry


def is_url(text: object) -> bool:
    """True for a string that starts with ``http://`` or ``https://`` (any case): what gets fetched."""
    return isinstance(text, str) and text[:8].lower().startswith(("http://", "https://"))


@dataclass(frozen=True)
class FetchOptions:
    """How a URL is fetched. ``read_timeout`` bounds each wait for data; ``total_timeout`` the whole fetch, so a
    server that drips a byte at a time cannot hold a decoding thread for ever."""

    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    total_timeout: float = 120.0
    max_redirects: int = 5
    guard: AddressGuard | None = field(default=None, compare=False)
    user_agent: str = "sentry-image"


@dataclass(frozen=True)
class RemoteImage:
    """An input to fetch: ``Detector.detect_many`` downloads it on its decoding threads, then decodes the bytes."""

    url: str
    options: FetchOptions = FetchOptions()

    def __str__(self) -> str:
        return self.url

    def fetch(self, max_bytes: int) -> bytes:
        return fetch_bytes(self.url, max_bytes, self.options)


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str  # ASCII (IDNA) form, without brackets
    port: int
    path: str  # path and query, percent-encoded


def resolve(host: str, port: int) -> _Resolved:
    """The addresses of ``host`` in the resolver's order (one name lookup per hop; tests replace it)."""
    found: _Resolved = []
    for family, _, _, _, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        if family in (socket.AF_INET, socket.AF_INET6) and (family, sockaddr) not in found:
            found.append((family, sockaddr))
    return found


def fetch_bytes(url: str, max_bytes: int, options: FetchOptions | None = None) -> bytes:
    """GET ``url`` following at most ``options.max_redirects`` redirects and return the body (<= ``max_bytes``).

    Raises:
        ImageError: ``fetch_failed``, ``fetch_refused`` or ``too_large`` (module docstring), named by ``url``.
    """
    options = options or FetchOptions()
    deadline = time.monotonic() + options.total_timeout
    current = url
    for hop in range(options.max_redirects + 1):
        target = _target(current, url, redirected=hop > 0)
        location = _get(target, url, max_bytes, options, deadline)
        if isinstance(location, bytes):
            return location
        current = urljoin(current, location)
    raise ImageError("fetch_failed", f"more than {options.max_redirects} redirects", url)


def _target(text: str, url: str, redirected: bool) -> _Target:
    """Validate one hop's URL: http(s), a host, a port; a redirect to anything else is a failure of the fetch."""
    try:
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            where = f"a redirect to a {scheme or 'relative'} URL" if redirected else f"a {scheme or 'relative'} URL"
            raise ImageError("fetch_failed", f"{where}: only http and https are fetched", url)
        if not parts.hostname:
            raise ImageError("fetch_failed", f"no host in {'the redirect' if redirected else 'the URL'}", url)
        host = parts.hostname.encode("idna").decode("ascii") if not parts.hostname.isascii() else parts.hostname
        port = parts.port or (443 if scheme == "https" else 80)
    except (ValueError, UnicodeError) as exc:  # a port out of range, an unencodable host name
        raise ImageError("fetch_failed", f"invalid URL: {exc}", url) from None
    # Already-encoded escapes stay as they are; spaces and non-ASCII characters get percent-encoded as browsers do.
    path = quote(parts.path or "/", safe=_SAFE) + (f"?{quote(parts.query, safe=_SAFE + '?')}" if parts.query else "")
    return _Target(scheme, host, port, path)


def _get(target: _Target, url: str, max_bytes: int, options: FetchOptions, deadline: float) -> bytes | str:
    """One request: the body, or the ``Location`` of a redirect. Every low-level failure becomes ``fetch_failed``
    saying what was being done when it happened."""
    where = f"[{target.host}]:{target.port}" if ":" in target.host else f"{target.host}:{target.port}"
    step = f"resolving {target.host}"
    conn: http.client.HTTPConnection | None = None
    response: http.client.HTTPResponse | None = None
    try:
        addresses = resolve(target.host, target.port)
        _check(addresses, target.host, url, options.guard)
        step = f"connecting to {where}"
        conn = _PinnedConnection(target)
        conn.sock = sock = _connect(addresses, options.connect_timeout)  # the connection owns it: closed in finally
        step = f"TLS handshake with {where}"
        if target.scheme == "https":
            sock.settimeout(_left(options.read_timeout, deadline))
            conn.sock = _tls_context().wrap_socket(sock, server_hostname=target.host)
        step = f"waiting for {where} to answer"
        active: socket.socket = conn.sock  # kept: the connection forgets it once the response says it will close
        active.settimeout(_left(options.read_timeout, deadline))
        conn.request("GET", target.path, headers={"User-Agent": options.user_agent, "Accept": "image/*, */*;q=0.5"})
        response = conn.getresponse()
        if response.status in _REDIRECTS:
            location = response.getheader("Location")
            if not location:
                raise ImageError("fetch_failed", f"HTTP {response.status} redirect without a Location", url)
            return location
        if response.status >= 300:
            raise ImageError("fetch_failed", f"HTTP {response.status} {response.reason}".strip(), url)
        step = f"reading the body from {where}"
        return _read_body(response, active, url, max_bytes, options, deadline)
    except ImageError:
        raise
    except TimeoutError:
        raise ImageError("fetch_failed", f"timed out {step}", url) from None
    except socket.gaierror as exc:
        raise ImageError("fetch_failed", f"cannot resolve host {target.host}: {exc.strerror or exc}", url) from None
    except ssl.SSLError as exc:
        raise ImageError("fetch_failed", f"TLS error with {where}: {exc.reason or exc}", url) from None
    except (http.client.HTTPException, ValueError) as exc:
        raise ImageError("fetch_failed", f"malformed HTTP response from {where}: {exc!r}", url) from None
    except OSError as exc:
        raise ImageError("fetch_failed", f"{step} failed: {exc.strerror or exc}", url) from None
    finally:
        # Both: the response holds its own reference to the socket. With unread data left the kernel resets the
        # connection, so a server still sending is stopped at once.
        if response is not None:
            response.close()
        if conn is not None:
            conn.close()


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The system's trusted CAs with hostname checks, loaded once: a context is safe to share between threads."""
    return ssl.create_default_context()


def _check(addresses: _Resolved, host: str, url: str, guard: AddressGuard | None) -> None:
    """Every address of the host must pass: a name with one private address among public ones is refused."""
    if guard is None:
        return
    for _, sockaddr in addresses:
        address = ipaddress.ip_address(sockaddr[0].split("%")[0])  # an IPv6 scope id is not part of the address
        reason = guard(address)
        if reason is not None:
            raise ImageError("fetch_refused", f"{host} resolves to {address}: {reason}", url)


def _connect(addresses: _Resolved, timeout: float) -> socket.socket:
    """Connect to the first of the checked addresses that answers (the resolver's order, like a browser)."""
    # The last failure is kept as facts, not as the exception: a local holding an exception that holds this frame
    # is a reference cycle, which would keep the caller's detector alive until a garbage collection.
    failure: tuple[type[OSError], int | None, str] = (OSError, None, "the host has no address")
    for family, sockaddr in addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            failure = (TimeoutError if isinstance(exc, TimeoutError) else OSError, exc.errno, exc.strerror or str(exc))
    kind, number, text = failure
    raise kind(number, text)


def _left(read_timeout: float, deadline: float) -> float:
    """The socket timeout for the next wait: the read timeout, or less when the whole fetch's time is nearly up."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return min(read_timeout, left)


def _read_body(response: http.client.HTTPResponse, sock: socket.socket, url: str, max_bytes: int,
               options: FetchOptions, deadline: float) -> bytes:
    declared = response.getheader("Content-Length")
    length = int(declared) if declared is not None and declared.strip().isdigit() else None
    if length is not None and length > max_bytes:
        raise ImageError("too_large", f"the server declares {length:,} bytes, over the limit of {max_bytes:,}", url)
    chunks: list[bytes] = []
    received = 0
    while True:
        sock.settimeout(_left(options.read_timeout, deadline))
        piece = response.read1(min(_CHUNK, max_bytes + 1 - received))  # at most one byte past the cap
        if not piece:
            break
        received += len(piece)
        chunks.append(piece)
        if received > max_bytes:
            raise ImageError("too_large", f"the body passes the limit of {max_bytes:,} bytes; stopped reading", url)
    if length is not None and received < length:
        raise ImageError("fetch_failed", f"the connection closed after {received:,} of {length:,} bytes", url)
    return b"".join(chunks)


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP connection over a socket already connected to the checked address: it never resolves or connects
    by itself (``connect`` would be a second, unchecked lookup), while ``Host`` is still the URL's name."""

    def __init__(self, target: _Target) -> None:
        super().__init__(target.host, target.port)
        self.default_port = 443 if target.scheme == "https" else 80  # Host carries the port only when not default

    def connect(self) -> None:
        raise http.client.NotConnected("a pinned connection cannot reconnect")


__all__ = ["SCHEMES", "AddressGuard", "FetchOptions", "IPAddress", "RemoteImage", "fetch_bytes", "is_url",
           "resolve"]

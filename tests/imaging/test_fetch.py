"""Fetching URL inputs against a loopback server: redirects, caps, timeouts, failures and the address guard."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from sentry_image.imaging import ImageError, decode_image
from sentry_image.imaging import fetch as fetch_module
from sentry_image.imaging.fetch import FetchOptions, IPAddress, fetch_bytes, is_url
from tests.imaging.loopback import HUGE_TOTAL, JPEG, PNG, LoopbackServer, serve_loopback

pytestmark = pytest.mark.core  # runs on the core install too (no torch, no extras)

CAP = 1_000_000


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    with serve_loopback() as started:
        yield started


def failure(url: str, max_bytes: int = CAP, options: FetchOptions | None = None) -> ImageError:
    with pytest.raises(ImageError) as info:
        fetch_bytes(url, max_bytes, options)
    assert info.value.path == url  # the row is named by the URL the user gave, whatever hop failed
    return info.value


def test_is_url_takes_http_and_https_only() -> None:
    assert is_url("http://a/b.png") and is_url("HTTPS://a/b.png")
    assert not is_url("ftp://a/b.png") and not is_url("photos/http.png") and not is_url(b"http://a")


def test_png_and_jpeg_come_back_byte_for_byte_and_decode(server: LoopbackServer) -> None:
    assert fetch_bytes(server.url("/img.png"), CAP) == PNG
    data = fetch_bytes(server.url("/img.jpg"), CAP)
    assert data == JPEG and decode_image(data, "x").info.format == "JPEG"


def test_a_body_exactly_at_the_cap_passes(server: LoopbackServer) -> None:
    assert fetch_bytes(server.url("/img.png"), len(PNG)) == PNG


def test_a_redirect_chain_is_followed_relative_locations_included(server: LoopbackServer) -> None:
    before = len(server.requests)
    assert fetch_bytes(server.url("/chain/4"), CAP) == PNG  # 5 redirects: the default limit
    assert [path for path, _ in server.requests[before:]] == [f"/chain/{n}" for n in (4, 3, 2, 1, 0)] + ["/img.png"]


def test_too_many_redirects_and_a_loop_fail(server: LoopbackServer) -> None:
    error = failure(server.url("/chain/5"))  # 6 redirects
    assert error.code == "fetch_failed" and "more than 5 redirects" in error.message
    assert "more than 2 redirects" in failure(server.url("/chain/2"), options=FetchOptions(max_redirects=2)).message
    loop = failure(server.url("/loop"))
    assert loop.code == "fetch_failed" and "redirects" in loop.message


def test_a_redirect_to_another_scheme_fails_without_following(server: LoopbackServer) -> None:
    error = failure(server.url("/to?u=" + quote("file:///etc/passwd")))
    assert error.code == "fetch_failed" and "redirect to a file URL" in error.message


def test_http_errors_name_the_status(server: LoopbackServer) -> None:
    error = failure(server.url("/missing"))
    assert error.code == "fetch_failed" and error.message == "HTTP 404 Not Found"


def test_a_stalled_body_times_out(server: LoopbackServer) -> None:
    error = failure(server.url("/slow"), options=FetchOptions(read_timeout=0.3))
    assert error.code == "fetch_failed" and "timed out" in error.message


def test_a_huge_body_without_length_stops_at_the_cap(server: LoopbackServer) -> None:
    error = failure(server.url("/huge"), max_bytes=100_000)
    assert error.code == "too_large" and "stopped reading" in error.message
    # The client hung up at once: the server's writes failed long before it could send everything.
    assert server.huge_done.wait(60)
    assert server.huge_sent < HUGE_TOTAL // 4


def test_a_declared_length_over_the_cap_is_refused_before_reading(server: LoopbackServer) -> None:
    error = failure(server.url("/declared"), max_bytes=100_000)
    assert error.code == "too_large" and "declares 1,000,000,000,000 bytes" in error.message


def test_a_body_shorter_than_declared_fails(server: LoopbackServer) -> None:
    error = failure(server.url("/short"))
    assert error.code == "fetch_failed" and "after 10 of 1,000 bytes" in error.message


def test_connection_refused_and_unresolvable_hosts_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    refused = failure(f"http://127.0.0.1:{port}/x.png")
    assert refused.code == "fetch_failed" and "connecting to 127.0.0.1" in refused.message

    def no_such_host(host: str, port: int) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(fetch_module, "resolve", no_such_host)  # no DNS in tests: the resolver's answer is given
    unknown = failure("http://no-such-host.invalid/x.png")
    assert unknown.code == "fetch_failed" and "cannot resolve host no-such-host.invalid" in unknown.message


def test_https_to_a_plain_http_server_is_a_tls_failure(server: LoopbackServer) -> None:
    error = failure(server.url("/img.png").replace("http://", "https://"))
    assert error.code == "fetch_failed" and "TLS error" in error.message


def test_malformed_urls_fail() -> None:
    assert failure("http:///x.png").code == "fetch_failed"
    assert "invalid URL" in failure("http://host:99999/x.png").message


def only(allowed: str) -> FetchOptions:
    """Options whose guard lets one address through and refuses every other."""

    def guard(address: IPAddress) -> str | None:
        return None if address == ipaddress.ip_address(allowed) else "not on the list"

    return FetchOptions(guard=guard)


def test_the_guard_refuses_before_anything_is_sent(server: LoopbackServer) -> None:
    before = len(server.requests)
    error = failure(server.url("/img.png"), options=only("10.9.9.9"))
    assert error.code == "fetch_refused" and "127.0.0.1: not on the list" in error.message
    assert len(server.requests) == before


def test_the_guard_checks_every_redirect_hop(server: LoopbackServer) -> None:
    onward = "http://127.0.0.2:1/img.png"  # another loopback address: refused without a connection attempt
    error = failure(server.url("/to?u=" + quote(onward)), options=only("127.0.0.1"))
    assert error.code == "fetch_refused" and "127.0.0.2" in error.message


def test_the_connection_goes_to_the_address_that_was_checked(server: LoopbackServer,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # DNS rebinding: the first answer passes the guard, a later one would not. The fetch must resolve once per hop
    # and connect to what it checked, while the request still names the host.
    answers = iter([[(socket.AF_INET, ("127.0.0.1", server.server_address[1]))]])
    asked: list[str] = []

    def rebinding(host: str, port: int) -> object:
        asked.append(host)
        return next(answers, [(socket.AF_INET, ("10.0.0.1", port))])

    monkeypatch.setattr(fetch_module, "resolve", rebinding)
    port = server.server_address[1]
    assert fetch_bytes(f"http://images.example:{port}/img.png", CAP, only("127.0.0.1")) == PNG
    assert asked == ["images.example"]
    assert server.requests[-1] == ("/img.png", f"images.example:{port}")

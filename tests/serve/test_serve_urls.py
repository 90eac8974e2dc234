"""``POST /api/v1/detect/url``: off unless the operator enables it; when on, only public addresses are fetched."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from sentry_image.detect import load_detector
from sentry_image.imaging.fetch import IPAddress
from sentry_image.serve.app import create_app
from sentry_image.serve.settings import Settings
from sentry_image.serve.urlguard import public_only
from tests.imaging.loopback import PNG, LoopbackServer, serve_loopback

URL_ROUTE = "/api/v1/detect/url"


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    with serve_loopback() as started:
        yield started


@pytest.fixture
def fetching_client(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    """The service with URL fetching on, and the rule as shipped (loopback refused)."""
    with TestClient(create_app(make_settings(allow_url_fetch=True, max_files=3, survey_pool=None))) as c:
        yield c


def let_loopback_through(client: TestClient) -> None:
    """Swap in a rule that lets 127.0.0.1 (the test server) through and applies the shipped rule to every other
    address. The shipped rule refuses every loopback address, so without this hook no test could show a URL
    fetched end to end through the API; production never sets ``app.state.url_guard``, and no request can."""

    def guard(address: IPAddress) -> str | None:
        return None if address == ipaddress.ip_address("127.0.0.1") else public_only(address)

    client.app.state.url_guard = guard  # type: ignore[attr-defined]


def test_off_by_default_with_403(sqlite_client: TestClient, server: LoopbackServer) -> None:
    before = len(server.requests)
    bodies: list[dict[str, object]] = [{"urls": [server.url("/img.png")]}, {"urls": []}, {}]
    for body in bodies:  # refused before the body is even validated
        resp = sqlite_client.post(URL_ROUTE, json=body)
        assert resp.status_code == 403 and resp.json()["error"]["code"] == "url_fetch_disabled"
    assert len(server.requests) == before


def test_the_setting_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().allow_url_fetch is False
    monkeypatch.setenv("SENTRY_ALLOW_URL_FETCH", "true")
    assert Settings().allow_url_fetch is True


def test_loopback_and_private_hosts_are_refused_unfetched(fetching_client: TestClient,
                                                          server: LoopbackServer) -> None:
    # The SSRF rule as shipped: a URL naming the service's own machine, by address or by name, is never fetched.
    port = server.server_address[1]
    urls = [server.url("/img.png"), f"http://localhost:{port}/img.png", "http://169.254.169.254/latest/meta-data/"]
    before = len(server.requests)
    resp = fetching_client.post(URL_ROUTE, json={"urls": urls})
    assert resp.status_code == 200
    rows = resp.json()["verdicts"]
    assert [r["path"] for r in rows] == urls
    assert [r["error"]["code"] for r in rows] == ["fetch_refused"] * 3
    assert "loopback" in rows[0]["error"]["message"] and "link-local" in rows[2]["error"]["message"]
    assert len(server.requests) == before  # nothing reached the server


def test_an_allowed_url_is_fetched_and_judged(fetching_client: TestClient, server: LoopbackServer,
                                              tiny_model: Path) -> None:
    let_loopback_through(fetching_client)
    urls = [server.url("/chain/1"), server.url("/missing"), server.url("/text")]
    resp = fetching_client.post(URL_ROUTE, json={"urls": urls})
    assert resp.status_code == 200
    body = resp.json()
    rows = body["verdicts"]
    assert body["model"] == "tiny@t1" and [r["path"] for r in rows] == urls
    expected = load_detector(str(tiny_model)).detect(PNG, name="x")
    assert rows[0]["error"] is None and rows[0]["ai_probability"] == round(expected.ai_probability or 0.0, 6)
    assert rows[1]["error"] == {"code": "fetch_failed", "message": "HTTP 404 Not Found"}
    assert rows[2]["error"]["code"] == "not_an_image"


def test_every_redirect_hop_is_checked(fetching_client: TestClient, server: LoopbackServer) -> None:
    let_loopback_through(fetching_client)
    onward = [f"http://127.0.0.2:{server.server_address[1]}/img.png", "http://[::1]/x.png", "http://10.0.0.1/x.png"]
    urls = [server.url("/to?u=" + quote(u)) for u in onward]
    rows = fetching_client.post(URL_ROUTE, json={"urls": urls}).json()["verdicts"]
    assert [r["error"]["code"] for r in rows] == ["fetch_refused"] * 3
    assert [r["path"] for r in rows] == urls


def test_a_fetched_body_over_the_upload_cap_is_too_large(make_settings: Callable[..., Settings],
                                                         server: LoopbackServer) -> None:
    settings = make_settings(allow_url_fetch=True, max_upload_bytes=50_000, survey_pool=None)
    with TestClient(create_app(settings)) as client:
        let_loopback_through(client)
        rows = client.post(URL_ROUTE, json={"urls": [server.url("/huge")]}).json()["verdicts"]
    assert rows[0]["error"]["code"] == "too_large"


def test_request_limits(fetching_client: TestClient) -> None:
    many = fetching_client.post(URL_ROUTE, json={"urls": ["http://example.com/a.png"] * 4})
    assert many.status_code == 413 and many.json()["error"]["code"] == "too_many_files"
    bodies: list[dict[str, object]] = [{"urls": []}, {"urls": ["http://x/" + "a" * 3000]}, {"url": "http://x/a.png"}]
    for body in bodies:
        resp = fetching_client.post(URL_ROUTE, json=body)
        assert resp.status_code == 422 and resp.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.8.9.10", "::1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "fc00::1", "fd12:3456::1",
    "169.254.169.254", "fe80::1", "224.0.0.1", "ff02::1", "0.0.0.0", "::", "240.0.0.1", "255.255.255.255",
    "100.64.0.1", "192.0.2.1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "2002:a00:1::1", "64:ff9b::a00:1"])
def test_non_public_addresses_are_refused(address: str) -> None:
    assert public_only(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert public_only(ipaddress.ip_address(address)) is None
